import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { loadConfig, paymentUnits, stakeUnits, type WebConfig } from "./config";
import { Notice } from "./components";
import { JobPage, OfferPage, ProviderPage } from "./pages/detail";
import { MarketPage } from "./pages/market";
import { Link, usePath } from "./router";
import "./styles.css";

function Page({ path, config }: { path: string; config: WebConfig }) {
  const units = { payment: paymentUnits(config), stake: stakeUnits(config) };
  let match: RegExpExecArray | null;
  if (path === "/") return <MarketPage {...units} />;
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
