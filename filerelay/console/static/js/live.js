// Server-Sent Events: the browser's EventSource sends the session cookie and reconnects by
// itself. Pages subscribe and are unsubscribed when the user leaves them.
import { url } from "./api.js";

/** Open an SSE stream; onMessage gets each parsed event. Returns a function that closes it. */
export function subscribe(path, query, onMessage, onState) {
  const source = new EventSource(url(path, query), { withCredentials: true });
  const handle = (e) => {
    let data = e.data;
    try { data = JSON.parse(e.data); } catch { /* plain text event */ }
    onMessage(data, e.type);
  };
  source.onmessage = handle;
  for (const type of ["event", "pipeline", "step", "log"]) {
    source.addEventListener(type, handle);
  }
  source.onopen = () => onState && onState(true);
  source.onerror = () => onState && onState(false);
  return () => source.close();
}
