// MV3 service worker: turns the popup's "score this tab" into a tab stream id and hands it to
// the offscreen document, which can open it (a service worker has no getUserMedia).

async function ensureOffscreen() {
  if (await chrome.offscreen.hasDocument()) return;
  await chrome.offscreen.createDocument({
    url: 'offscreen.html',
    reasons: ['USER_MEDIA'],
    justification: "Record the current tab's audio for scoring while it keeps playing.",
  });
}

async function recordTab(tabId, seconds) {
  const streamId = await chrome.tabCapture.getMediaStreamId({ targetTabId: tabId });
  await ensureOffscreen();
  return chrome.runtime.sendMessage({ type: 'offscreen-record', streamId, seconds });
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (message.type !== 'record-tab') return false;
  recordTab(message.tabId, message.seconds).then(sendResponse,
    (err) => sendResponse({ error: err.message || String(err) }));
  return true;  // the answer comes asynchronously
});
