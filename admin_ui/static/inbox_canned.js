/* Canned responses in the composer: typing "/" and a few letters lists the workspace's responses whose short
 * code starts with them (or whose text holds them); choosing one puts its text in place of "/code". Responses are
 * plain text and shown as text. */
import { api, node } from "./inbox_core.js";
import { installPicker } from "./inbox_picker.js";

export function installCanned(textarea, menu) {
  installPicker(textarea, menu, {
    trigger: /(^|\s)\/([^\s/]*)$/,
    idPrefix: "canned",
    find: async (typed) => {
      const query = new URLSearchParams({ limit: "8" });
      if (typed) query.set("q", typed);
      return (await api(`/api/v1/canned_responses?${query}`).catch(() => ({ items: [] }))).items;
    },
    option: (item) => [node("strong", null, `/${item.short_code}`), " ", node("span", "muted", item.content)],
    replacement: (item) => item.content,
  });
}
