import type { WebConfig } from "../static";
import type { TokenUnits } from "../../protocol/units";

export type { WebConfig };

/** The deployment the server follows (served as /web-config.json by src/web/static.ts). */
export async function loadConfig(): Promise<WebConfig> {
  const response = await fetch("/web-config.json");
  if (!response.ok) return { chainId: null, deployment: null };
  return (await response.json()) as WebConfig;
}

/** Without a deployment (`gpumesh serve`), amounts show as base units. */
const BASE_UNITS: TokenUnits = { symbol: "units", decimals: 0 };

export function paymentUnits(config: WebConfig): TokenUnits {
  return config.deployment?.tokens.payment ?? BASE_UNITS;
}

export function stakeUnits(config: WebConfig): TokenUnits {
  return config.deployment?.tokens.stake ?? BASE_UNITS;
}
