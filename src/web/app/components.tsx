import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { TokenUnits } from "../../protocol/units";
import type { PricePoint, TimeChart, UtilizationPoint } from "./chart";

export function Section(props: { title: string; id?: string; actions?: ComponentChildren; children: ComponentChildren }) {
  const headingId = `${props.id ?? props.title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-heading`;
  return (
    <section class="panel" aria-labelledby={headingId} id={props.id}>
      <div class="panel-head">
        <h2 id={headingId}>{props.title}</h2>
        {props.actions ? <div class="panel-actions">{props.actions}</div> : null}
      </div>
      {props.children}
    </section>
  );
}

/**
 * A headline figure. Its value ("1114.797105 USDC", "17.9%") is a number and an optional unit after the first space:
 * the number never breaks, and the font shrinks to the box (styles.css, .figure-value) so that number and unit share
 * one line down to a floor size, below which only the unit moves to the next line.
 */
export function Figure(props: { label: string; value: string; detail?: string; testId?: string }) {
  const space = props.value.indexOf(" ");
  const number = space === -1 ? props.value : props.value.slice(0, space);
  const unit = space === -1 ? "" : props.value.slice(space + 1);
  const style = { "--number-chars": number.length, "--unit-chars": unit.length };
  return (
    <div class="figure" data-testid={props.testId}>
      <div class="figure-label">{props.label}</div>
      <div class="figure-value" style={style}>
        <span class="figure-number">{number}</span>
        {unit ? <> <span class="figure-unit">{unit}</span></> : null}
      </div>
      {props.detail ? <div class="figure-detail">{props.detail}</div> : null}
    </div>
  );
}

/** A wide table scrolls inside its own box: the page never gets wider than the screen. */
export function TableBox(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-box" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}

export function Meter(props: { share: number; label: string }) {
  const width = `${Math.max(0, Math.min(1, props.share)) * 100}%`;
  return (
    <span class="meter" role="img" aria-label={props.label}>
      <span class="meter-fill" style={{ width }} />
    </span>
  );
}

export function Notice(props: { kind?: "error" | "info"; children: ComponentChildren }) {
  return (
    <p class={`notice ${props.kind ?? "info"}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </p>
  );
}

/** A lightweight-charts chart: the library loads in its own chunk, after the figures are on screen. */
function TimeChartBox<P>(props: {
  points: readonly P[];
  create: (charts: typeof import("./chart"), element: HTMLElement) => TimeChart<P>;
  /** Whatever the chart is made from besides its points: a change makes it anew. */
  setup: unknown;
  label: string;
  testId: string;
}) {
  const element = useRef<HTMLDivElement>(null);
  const chart = useRef<TimeChart<P> | null>(null);
  const latest = useRef(props.points);
  latest.current = props.points;
  const create = useRef(props.create);
  create.current = props.create;
  useEffect(() => {
    let disposed = false;
    void import("./chart").then((charts) => {
      if (disposed || !element.current) return;
      chart.current = create.current(charts, element.current);
      chart.current.update(latest.current);
    });
    return () => {
      disposed = true;
      chart.current?.remove();
      chart.current = null;
    };
  }, [props.setup]);
  useEffect(() => chart.current?.update(props.points), [props.points]);
  return (
    <figure class="chart-figure" aria-label={props.label}>
      <div class="chart" ref={element} data-testid={props.testId} />
    </figure>
  );
}

export function PriceCandles(props: { points: readonly PricePoint[]; units: TokenUnits; label: string }) {
  return (
    <TimeChartBox
      points={props.points}
      setup={props.units}
      create={(charts, element) => charts.createPriceChart(element, props.units)}
      label={props.label}
      testId="price-chart"
    />
  );
}

/** `interval` makes the chart anew, so that it fits the other interval's points. */
export function UtilizationArea(props: { points: readonly UtilizationPoint[]; interval: string; label: string }) {
  return (
    <TimeChartBox
      points={props.points}
      setup={props.interval}
      create={(charts, element) => charts.createUtilizationChart(element)}
      label={props.label}
      testId="utilization-chart"
    />
  );
}
