// Chrome extension only: record the current tab's audio through the offscreen document.
// chrome.tabCapture gives a stream id; only a document can open it (getUserMedia), and the
// popup closes when it loses focus, so the offscreen document records and plays it back.

export function isExtensionPage() {
  return Boolean(globalThis.chrome?.runtime?.id && chrome.tabCapture);
}

/** `seconds` of the active tab's audio as an encoded Blob (webm/opus), for the same decoder. */
export async function recordTab(seconds) {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  if (!tab) throw new Error('no active tab');
  const reply = await chrome.runtime.sendMessage({ type: 'record-tab', tabId: tab.id, seconds });
  if (!reply || reply.error) throw new Error(reply?.error || 'no reply from the extension');
  return (await fetch(reply.dataUrl)).blob();
}
