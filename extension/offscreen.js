// Offscreen document: opens the tab's audio stream, keeps it audible, records N seconds and
// returns them as a data URL (runtime messages carry JSON only, not Blobs).

function blobToDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function record(streamId, seconds) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { mandatory: { chromeMediaSource: 'tab', chromeMediaSourceId: streamId } },
  });
  // Capturing a tab mutes it; routing the stream to the speakers keeps it playing.
  const context = new AudioContext();
  context.createMediaStreamSource(stream).connect(context.destination);
  const chunks = [];
  const recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => chunks.push(e.data);
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  recorder.stop();
  await stopped;
  stream.getTracks().forEach((t) => t.stop());
  await context.close();
  return blobToDataUrl(new Blob(chunks, { type: recorder.mimeType }));
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (message.type !== 'offscreen-record') return false;
  record(message.streamId, message.seconds).then((dataUrl) => sendResponse({ dataUrl }),
    (err) => sendResponse({ error: err.message || String(err) }));
  return true;
});
