import { render, type ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { loadConfig, paymentUnits, stakeUnits, type WebConfig } from "./config";
import type { TokenUnits } from "../../protocol/units";
import { Notice } from "./components";
import { JobPage, OfferPage, ProviderPage } from "./pages/detail";
import { MarketPage } from "./pages/market";
import { ProvidersPage } from "./pages/providers";
import { Link, usePath } from "./router";
import "./styles.css";

type ConsoleModule = { default: ComponentType<{ config: WebConfig; payment: TokenUnits; stake: TokenUnits }> };

/** The consoles (wallets, viem, wagmi) load in their own chunks: the market pages never wait for them. */
function Lazy(props: { load: () => Promise<ConsoleModule>; config: WebConfig; payment: TokenUnits; stake: TokenUnits }) {
  const [loaded, setLoaded] = useState<ConsoleModule | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setLoaded(null);
    props.load().then(setLoaded, (failure: Error) => setError(failure.message));
  }, [props.load]);
  if (error) return <Notice kind="error">The console could not load: {error}</Notice>;
  if (!loaded) return <p class="loading">Loading the console …</p>;
  const Console = loaded.default;
  return <Console config={props.config} payment={props.payment} stake={props.stake} />;
}

const loadProviderConsole = () => import("./pages/provider-console");
const loadClientConsole = () => import("./pages/client-console");

function Page({ path, config }: { path: string; config: WebConfig }) {
  const units = { payment: paymentUnits(config), stake: stakeUnits(config) };
  let match: RegExpExecArray | null;
  if (path === "/") return <MarketPage {...units} />;
  if (path === "/providers") return <ProvidersPage {...units} />;
  if (path === "/console/provider") return <Lazy load={loadProviderConsole} config={config} {...units} />;
  if (path === "/console/client") return <Lazy load={loadClientConsole} config={config} {...units} />;
  if ((match = /^\/providers\/(0x[0-9a-fA-F]{40})$/.exec(path))) return <ProviderPage {...units} address={match[1]!.toLowerCase()} />;
  if ((match = /^\/offers\/(\d+)$/.exec(path))) return <OfferPage {...units} id={match[1]!} />;
  if ((match = /^\/jobs\/(\d+)$/.exec(path))) return <JobPage {...units} id={match[1]!} />;
  return <Notice kind="error">There is no page {path} here.</Notice>;
}

function App() {
  const path = usePath();
  const [config, setConfig] = useState<WebConfig | null>(null);
  useEffect(() => {
    loadConfig().then(setConfig, () => setConfig({ chainId: null, deployment: null }));
  }, []);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="brand" aria-label="GPU Mesh market">
          <img src="/favicon.svg" alt="" width={24} height={24} /> GPU Mesh
        </Link>
        <nav aria-label="Main">
          <Link href="/" aria-current={path === "/" ? "page" : undefined}>
            Market
          </Link>
          <Link href="/providers" aria-current={path === "/providers" ? "page" : undefined}>
            Providers
          </Link>
          <Link href="/console/provider" aria-current={path === "/console/provider" ? "page" : undefined}>
            Provide GPUs
          </Link>
          <Link href="/console/client" aria-current={path === "/console/client" ? "page" : undefined}>
            Rent GPUs
          </Link>
        </nav>
      </header>
      <main id="main">
        {config ? <Page path={path} config={config} /> : <p class="loading">Loading …</p>}
        {config && !config.deployment ? <Notice>This server knows no deployment: amounts are shown in base units.</Notice> : null}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
