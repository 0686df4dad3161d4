// Berth: a sparkline on a <canvas>: the last SAMPLES values of one or more series, each
// a line over a faint fill, scaled together to the largest value shown.

export const SAMPLES = 120;

// floor: the smallest full scale, so an idle container draws a flat line, not noise.
// format(value): the axis labels (the full scale and 0 on the left, the time below).
export function drawSpark(canvas, series, floor, format) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (!width || !height) return; // in a hidden tab: drawn when it is shown
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = "#e1e6ec";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, height - 0.5);
  ctx.lineTo(width, height - 0.5);
  ctx.stroke();
  let max = floor;
  series.forEach((s) => s.values.forEach((v) => { if (v > max) max = v; }));
  max *= 1.15; // headroom: the top of the line stays visible
  if (format) {
    ctx.fillStyle = "#66788a";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.fillText(format(max), 2, 1);
    ctx.strokeStyle = "#eef2f6";
    ctx.beginPath();
    ctx.moveTo(0, 0.5);
    ctx.lineTo(width, 0.5);
    ctx.moveTo(0, Math.round(height / 2) + 0.5);
    ctx.lineTo(width, Math.round(height / 2) + 0.5);
    ctx.stroke();
    ctx.textBaseline = "bottom";
    ctx.fillText("0 · 2 min ago", 2, height - 2);
    ctx.textAlign = "right";
    ctx.fillText("now", width - 2, height - 2);
    ctx.textAlign = "left";
  }
  const step = width / (SAMPLES - 1);
  series.forEach((s) => {
    const values = s.values;
    if (!values.length) return;
    const x0 = width - (values.length - 1) * step;
    const y = (v) => height - 2 - (Math.max(0, v) / max) * (height - 6);
    ctx.beginPath();
    values.forEach((v, i) => (i ? ctx.lineTo(x0 + i * step, y(v)) : ctx.moveTo(x0, y(v))));
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = 1.5;
    ctx.lineJoin = "round";
    ctx.stroke();
    ctx.lineTo(width, height);
    ctx.lineTo(x0, height);
    ctx.closePath();
    ctx.globalAlpha = 0.12;
    ctx.fillStyle = s.colour;
    ctx.fill();
    ctx.globalAlpha = 1;
  });
}
