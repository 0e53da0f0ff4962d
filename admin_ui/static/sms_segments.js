/* How many SMS segments a reply costs, and in which encoding: GSM-7 fits 160 characters in one message and 153 per
   segment of a longer one; one character outside GSM-7 (Chinese, most emoji) makes the whole text UCS-2, 70 and 67.
   The twin of connectors/sms/segments.py; tests/connectors/sms/test_segments.py holds both to the same cases. */

const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
);
/* Reached through an escape: each costs two of a segment's septets. */
const GSM7_EXTENSION = new Set("^{}\\[~]|€\f");

export function smsSegments(text) {
  const characters = [...text];
  if (characters.every((character) => GSM7_BASIC.has(character) || GSM7_EXTENSION.has(character))) {
    const units = characters.reduce((sum, character) => sum + (GSM7_EXTENSION.has(character) ? 2 : 1), 0);
    return counted("GSM-7", units, 160, 153);
  }
  return counted("UCS-2", text.length, 70, 67); /* UTF-16 code units, as JavaScript counts a string */
}

function counted(encoding, units, single, split) {
  if (units <= single) return { encoding, units, segments: units ? 1 : 0, perSegment: single };
  return { encoding, units, segments: Math.ceil(units / split), perSegment: split };
}
