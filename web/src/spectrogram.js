// A log-power spectrogram on a canvas, with the per-window scores drawn over it.

/** In-place radix-2 FFT of (re, im), length a power of two. */
function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(ang * k), wi = Math.sin(ang * k);
        const a = i + k, b = a + len / 2;
        const tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr; im[b] = im[a] - ti;
        re[a] += tr; im[a] += ti;
      }
    }
  }
}

/**
 * dB power (columns, nFft/2 + 1) of `columns` Hann-windowed frames spread evenly over `wave`:
 * one frame per canvas column, so the cost does not grow with the file's length.
 */
export function logSpectrogram(wave, nFft, columns) {
  const size = 2 ** Math.ceil(Math.log2(nFft));
  const bins = size / 2 + 1;
  const hann = Float64Array.from({ length: size }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / size));
  const out = new Float32Array(columns * bins);
  const re = new Float64Array(size), im = new Float64Array(size);
  for (let c = 0; c < columns; c++) {
    const centre = Math.round(((c + 0.5) / columns) * wave.length);
    for (let i = 0; i < size; i++) {
      const j = centre - size / 2 + i;
      re[i] = j >= 0 && j < wave.length ? wave[j] * hann[i] : 0;
      im[i] = 0;
    }
    fft(re, im);
    for (let k = 0; k < bins; k++) out[c * bins + k] = 10 * Math.log10(re[k] * re[k] + im[k] * im[k] + 1e-10);
  }
  return { data: out, bins };
}

/** Dark blue -> teal -> yellow, for values in [0, 1]. */
function colour(v) {
  const r = Math.round(255 * Math.min(1, Math.max(0, 1.6 * v - 0.5)));
  const g = Math.round(255 * Math.min(1, 1.1 * v));
  const b = Math.round(255 * Math.max(0, 0.55 - 0.6 * v + 0.4 * Math.sin(Math.PI * v)));
  return [r, g, b];
}

/**
 * Draw the spectrogram of `wave` and, over it, the per-window scores (centres in seconds) as a
 * line on a symmetric score axis, the threshold dashed: above it = bona fide.
 */
export function drawOverlay(canvas, wave, sampleRate, nFft, result) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  const { data, bins } = logSpectrogram(wave, nFft, width);
  const top = data.reduce((a, b) => Math.max(a, b), -Infinity);
  const image = ctx.createImageData(width, height);
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const k = Math.floor(((height - 1 - y) / height) * bins);
      const [r, g, b] = colour(Math.max(0, (data[x * bins + k] - top + 80) / 80));  // 80 dB range
      const p = 4 * (y * width + x);
      image.data.set([r, g, b, 255], p);
    }
  }
  ctx.putImageData(image, 0, 0);

  const seconds = wave.length / sampleRate;
  const { centres, scores } = result.windows;
  const limit = Math.max(1, Math.abs(result.threshold), ...scores.map(Math.abs)) * 1.1;
  const yOf = (s) => height / 2 - (s / limit) * (height / 2);
  const xOf = (t) => (t / seconds) * width;

  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = 'rgba(255,255,255,0.9)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, yOf(result.threshold));
  ctx.lineTo(width, yOf(result.threshold));
  ctx.stroke();
  ctx.setLineDash([]);

  ctx.lineWidth = 2.5;
  ctx.strokeStyle = '#ffffff';
  ctx.beginPath();
  centres.forEach((t, i) => (i ? ctx.lineTo(xOf(t), yOf(scores[i])) : ctx.moveTo(xOf(t), yOf(scores[i]))));
  ctx.stroke();
  centres.forEach((t, i) => {
    ctx.fillStyle = scores[i] > result.threshold ? '#2ecc71' : '#e74c3c';
    ctx.beginPath();
    ctx.arc(xOf(t), yOf(scores[i]), 4, 0, 2 * Math.PI);
    ctx.fill();
  });

  const label = (text, x, y, align = 'left') => {
    ctx.font = '12px sans-serif';
    const w = ctx.measureText(text).width + 8;
    const left = align === 'right' ? x - w : x;
    ctx.fillStyle = 'rgba(0,0,0,0.6)';
    ctx.fillRect(left, y - 13, w, 17);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, left + 4, y);
  };
  label(`score +${limit.toFixed(1)}`, 2, 15);
  label(`−${limit.toFixed(1)}`, 2, height - 24);
  label(`threshold ${result.threshold >= 0 ? '+' : ''}${result.threshold.toFixed(2)}`, width - 2, yOf(result.threshold) - 4, 'right');
  label(`${(sampleRate / 2000).toFixed(1)} kHz`, width - 2, 15, 'right');
  label('0 s', 2, height - 4);
  label(`${seconds.toFixed(2)} s`, width - 2, height - 4, 'right');
}
