// Apache ECharts 6.1.0 (web/vendor/echarts, the "simple" build: bar, line, pie), loaded on first use so the
// battle map does not pay for it. Served by the platform itself: nothing comes from a CDN.

let loading = null;

export function echarts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!loading)
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/console/vendor/echarts/echarts.simple.min.js";
      script.onload = () => resolve(window.echarts);
      script.onerror = () => reject(new Error("图表库加载失败"));
      document.head.append(script);
    });
  return loading;
}

const FONT = '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif';

/** A horizontal bar chart of `rows` ([label, value]) into `el`; returns a disposer. */
export async function bars(el, rows, { name, unit = "" }) {
  const lib = await echarts();
  const chart = lib.init(el, null, { renderer: "canvas" });
  chart.setOption({
    textStyle: { fontFamily: FONT },
    grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: "value", axisLabel: { formatter: `{value}${unit}` } },
    yAxis: { type: "category", inverse: true, data: rows.map((r) => r[0]), axisLabel: { width: 160, overflow: "truncate" } },
    series: [{ name, type: "bar", data: rows.map((r) => r[1]), itemStyle: { color: "#b3261e" }, label: { show: true, position: "right" } }],
    tooltip: { trigger: "axis" },
    animation: false,
  });
  const resize = () => chart.resize();
  window.addEventListener("resize", resize);
  return () => {
    window.removeEventListener("resize", resize);
    chart.dispose();
  };
}
