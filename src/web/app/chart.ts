import { AreaSeries, CandlestickSeries, ColorType, createChart, LineSeries, type UTCTimestamp } from "lightweight-charts";
import type { TokenUnits } from "../../protocol/units";
import { plotValue } from "./format";

export interface PricePoint {
  start: number;
  jobs: number;
  open: string | null;
  high: string | null;
  low: string | null;
  close: string | null;
  askFloor: string | null;
}

/** The API's utilization over one interval (oldest first; the last one runs up to the indexed block's time). */
export interface UtilizationPoint {
  start: number;
  end: number;
  gpuHoursOffered: number;
  gpuHoursLeased: number;
  utilization: number;
}

export interface TimeChart<P> {
  update(points: readonly P[]): void;
  remove(): void;
}
export type PriceChart = TimeChart<PricePoint>;

function createDarkChart(element: HTMLElement, priceFormatter: (value: number) => string) {
  return createChart(element, {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: "#0b1220" },
      textColor: "#cbd5e1",
      fontFamily: "system-ui, sans-serif",
    },
    grid: { vertLines: { color: "#1e293b" }, horzLines: { color: "#1e293b" } },
    timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#334155" },
    rightPriceScale: { borderColor: "#334155" },
    localization: { priceFormatter },
  });
}

/** Candles of realized prices per GPU-hour and the ask floor at each bucket's end (TradingView lightweight-charts). */
export function createPriceChart(element: HTMLElement, units: TokenUnits): PriceChart {
  // The axis shows what the table shows: the token's decimals, at most 4.
  const chart = createDarkChart(element, (price) => price.toFixed(Math.min(units.decimals, 4)));
  const candles = chart.addSeries(CandlestickSeries, {
    upColor: "#22c55e",
    downColor: "#f87171",
    wickUpColor: "#22c55e",
    wickDownColor: "#f87171",
    borderVisible: false,
    title: "price",
  });
  const floor = chart.addSeries(LineSeries, { color: "#facc15", lineWidth: 2, title: "ask floor", lineType: 1 });
  let fitted = false;
  return {
    update(points) {
      const time = (point: PricePoint) => point.start as UTCTimestamp;
      candles.setData(
        points
          .filter((point) => point.open !== null && point.high !== null && point.low !== null && point.close !== null)
          .map((point) => ({
            time: time(point),
            open: plotValue(point.open!, units),
            high: plotValue(point.high!, units),
            low: plotValue(point.low!, units),
            close: plotValue(point.close!, units),
          })),
      );
      floor.setData(points.filter((point) => point.askFloor !== null).map((point) => ({ time: time(point), value: plotValue(point.askFloor!, units) })));
      if (!fitted && points.length > 0) {
        chart.timeScale().fitContent();
        fitted = true;
      }
    },
    remove: () => chart.remove(),
  };
}


/** The leased share of the offered GPU-hours per interval, in percent. */
export function createUtilizationChart(element: HTMLElement): TimeChart<UtilizationPoint> {
  const chart = createDarkChart(element, (percent) => `${percent.toFixed(0)}%`);
  const area = chart.addSeries(AreaSeries, {
    lineColor: "#38bdf8",
    topColor: "rgba(56, 189, 248, 0.4)",
    bottomColor: "rgba(56, 189, 248, 0.02)",
    lineWidth: 2,
    title: "utilization",
    autoscaleInfoProvider: () => ({ priceRange: { minValue: 0, maxValue: 100 } }),
  });
  // 0 to 100 % fills the pane: no margin above the top.
  area.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.05 } });
  let fitted = false;
  return {
    update(points) {
      area.setData(points.map((point) => ({ time: point.start as UTCTimestamp, value: point.utilization * 100 })));
      if (!fitted && points.length > 0) {
        chart.timeScale().fitContent();
        fitted = true;
      }
    },
    remove: () => chart.remove(),
  };
}
