/* Sound and desktop notification of a new conversation or customer message while the inbox's tab is hidden.
 * Switched on from the header and remembered in localStorage; the browser's notification permission is asked
 * only when the agent switches them on (a click), and the chime is synthesised with WebAudio (no sound file). */
import { t } from "./inbox_core.js";

const STORAGE_KEY = "omnihub.alerts";
const CHIME_GAP_MS = 1500; /* a conversation's first message arrives with it: one chime for both */

let enabled = localStorage.getItem(STORAGE_KEY) === "on";
let audio = null;
let lastChimeAt = 0;

function render(toggle) {
  toggle.textContent = t(enabled ? "Alerts on" : "Alerts off");
  toggle.setAttribute("aria-pressed", String(enabled));
}

export function installAlerts(toggle) {
  render(toggle);
  toggle.addEventListener("click", async () => {
    enabled = !enabled;
    localStorage.setItem(STORAGE_KEY, enabled ? "on" : "off");
    render(toggle);
    if (!enabled) return;
    audio = audio || new AudioContext(); /* created in the click, so the browser lets it play later */
    if ("Notification" in window && Notification.permission === "default") await Notification.requestPermission();
    if ("Notification" in window && Notification.permission === "denied") {
      toggle.title = t("The browser blocks notifications for this site: only the sound will play.");
    }
  });
}

function chime() {
  const now = Date.now();
  if (now - lastChimeAt < CHIME_GAP_MS) return;
  lastChimeAt = now;
  audio = audio || new AudioContext();
  if (audio.state === "suspended") audio.resume().catch(() => {});
  const start = audio.currentTime;
  [880, 1320].forEach((frequency, index) => {
    const tone = audio.createOscillator();
    const volume = audio.createGain();
    tone.frequency.value = frequency;
    volume.gain.setValueAtTime(0.0001, start + index * 0.12);
    volume.gain.exponentialRampToValueAtTime(0.2, start + index * 0.12 + 0.02);
    volume.gain.exponentialRampToValueAtTime(0.0001, start + index * 0.12 + 0.25);
    tone.connect(volume).connect(audio.destination);
    tone.start(start + index * 0.12);
    tone.stop(start + index * 0.12 + 0.3);
  });
}

/* `title` and `body` are shown as the notification's text; one notification per conversation (`tag`). */
export function alertAgent({ title, body, conversationId, open }) {
  if (!enabled || !document.hidden) return;
  chime();
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const notification = new Notification(title, { body, tag: conversationId });
  notification.addEventListener("click", () => {
    window.focus();
    open(conversationId);
    notification.close();
  });
}
