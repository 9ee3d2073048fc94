// The page: file, microphone or (in the extension) tab audio in; verdict, numbers and overlay out.
import { decodeToModelRate } from './audio.js';
import { loadDetector } from './detector.js';
import { drawOverlay } from './spectrogram.js';
import { isExtensionPage, recordTab } from './tab_capture.js';

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const threads = query.has('threads') ? Number(query.get('threads')) : undefined;

function showError(err) {
  $('result').hidden = true;
  $('status').textContent = '';
  $('error').textContent = err.message || String(err);
  $('error').hidden = false;
}

function memoryText() {
  const m = performance.memory;  // Chromium only, and coarse unless cross-origin isolated
  return m ? `JS heap ${(m.usedJSHeapSize / 2 ** 20).toFixed(1)} MB used (performance.memory)`
    : 'not exposed by this browser';
}

function describeModel(detector) {
  const s = detector.settings;
  $('model-info').textContent = `Model: ${s.n_parameters.toLocaleString('en')} parameters, ` +
    `${(detector.modelBytes / 1024).toFixed(0)} KB ONNX · ${s.sample_rate / 1000} kHz · ` +
    `onnxruntime-web wasm, ${detector.threads} thread${detector.threads > 1 ? 's' : ''}`;
}

function render(result, name, decodeMs) {
  const bonafide = result.decision === 'bonafide';
  const decision = $('decision');
  decision.textContent = bonafide ? 'Bona fide (real voice)' : 'Spoof (likely synthetic)';
  decision.className = result.decision;
  $('file-name').textContent = name;
  $('score').textContent = `${result.score >= 0 ? '+' : ''}${result.score.toFixed(3)}`;
  $('score').dataset.value = String(result.score);  // full precision, for tests
  $('p-bonafide').textContent = result.pBonafide.toFixed(3);
  $('threshold').textContent = `${result.threshold >= 0 ? '+' : ''}${result.threshold.toFixed(3)} ` +
    `(score ${bonafide ? '>' : '≤'} threshold)`;
  $('audio-seconds').textContent = `${result.audioSeconds.toFixed(2)} s, ${result.windows.scores.length} windows in the overlay`;
  $('latency').textContent = `${result.latencyMs.toFixed(1)} ms scoring (model loaded) + ${decodeMs.toFixed(1)} ms decoding`;
  $('memory').textContent = memoryText();
  $('error').hidden = true;
  $('status').textContent = '';
  $('result').hidden = false;
}

let last = null;  // the latest analysis, for tests and the console
const ready = loadDetector(new URL('model/', location.href), threads);

/** Decode, score and show one encoded clip; resolves to the result, or {error} once shown. */
async function analyze(blob, name) {
  const detector = await ready;
  $('status').textContent = `Scoring ${name}…`;
  try {
    const t0 = performance.now();
    const wave = await decodeToModelRate(await blob.arrayBuffer(), name, detector.settings);
    const decodeMs = performance.now() - t0;
    const result = await detector.detect(wave);
    render(result, name, decodeMs);
    drawOverlay($('overlay'), wave, detector.settings.sample_rate, detector.settings.n_fft, result);
    last = { ...result, decodeMs, name };
    return last;
  } catch (err) {
    showError(err);
    last = { error: err.message || String(err), name };
    return last;
  }
}

/** A deterministic `seconds`-long test wave at the model's rate (harmonics plus noise). */
function syntheticWave(seconds, rate) {
  const wave = new Float32Array(Math.round(seconds * rate));
  let seed = 12345, phase = 0;
  for (let i = 0; i < wave.length; i++) {
    seed = (1103515245 * seed + 12345) % 2147483648;
    phase += (2 * Math.PI * (140 + 40 * Math.sin((2 * Math.PI * 1.3 * i) / rate))) / rate;
    wave[i] = 0.1 * Math.sin(phase) + 0.05 * Math.sin(2 * phase) + 0.01 * (seed / 2147483648 - 0.5);
  }
  return wave;
}

/** In-page latency: p50 of scoring a `seconds` clip, model loaded (tests and the profile use it). */
async function benchmark(seconds = 4, runs = 30, warmup = 5) {
  const detector = await ready;
  const wave = syntheticWave(seconds, detector.settings.sample_rate);
  return { ...(await detector.benchmark(wave, runs, warmup)), audio_seconds: seconds };
}

function wireInputs() {
  const drop = $('drop');
  $('file').disabled = false;
  $('file').addEventListener('change', (e) => {
    const file = e.target.files[0];
    if (file) analyze(file, file.name);
    e.target.value = '';  // picking the same file again still fires
  });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer.files[0];
    if (file) analyze(file, file.name);
  });

  let recorder = null;
  const button = $('record');
  button.disabled = !navigator.mediaDevices?.getUserMedia;
  button.addEventListener('click', async () => {
    if (recorder) { recorder.stop(); return; }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = (e) => chunks.push(e.data);
      recorder.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        button.textContent = '● Record from microphone';
        button.classList.remove('recording');
        recorder = null;
        analyze(new Blob(chunks, { type: chunks[0]?.type }), 'microphone recording');
      };
      recorder.start();
      button.textContent = '■ Stop and score';
      button.classList.add('recording');
    } catch (err) {
      showError(new Error(`microphone unavailable: ${err.message || err.name}`));
    }
  });

  if (isExtensionPage()) {
    document.body.classList.add('popup');
    $('tab-controls').hidden = false;
    $('tab').disabled = false;
    $('tab').addEventListener('click', async () => {
      const seconds = Number($('tab-seconds').value) || 5;
      $('status').textContent = `Recording ${seconds} s of this tab's audio…`;
      try {
        analyze(await recordTab(seconds), "this tab's audio");
      } catch (err) {
        showError(new Error(`tab capture failed: ${err.message || err}`));
      }
    });
  }
}

ready.then((detector) => { describeModel(detector); wireInputs(); },
  (err) => { $('model-info').textContent = 'The model did not load.'; showError(err); });

window.spectcontra = { ready: ready.then(() => true), analyze, benchmark, get last() { return last; } };
