import { Type, type TString } from 'typebox';

type StringOptions = NonNullable<Parameters<typeof Type.String>[0]>;

/**
 * Free text from outside (a handle, a user agent, a label, a reason, an incident note): any
 * length-only string schema let control characters through, and PostgreSQL refuses a NUL in a
 * text column or a query parameter (22021), which answered 500 where SQLite stored it. These
 * refuse C0 controls, DEL and unpaired surrogates at validation, with the schema's own 400, on both databases alike.
 */
// Ajv and TypeBox compile `pattern` with the u flag, under which \p{Cs} is a surrogate that is not
// half of a pair: JSON lets one through ("\ud800"), no database stores it faithfully (PostgreSQL
// and SQLite write U+FFFD in its place), and the audit trail's canonical hash throws on it, which
// answered 500 (test/review/lone-surrogate-audited-text-500).
const ONE_LINE = '^[^\\u0000-\\u001f\\u007f\\p{Cs}]*$';
// Notes and documents keep their tabs and line breaks.
const MULTI_LINE = '^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f\\p{Cs}]*$';

const ONE_LINE_RE = new RegExp(ONE_LINE, 'u');

/** Whether a text is one line of free text (TextLine's rule, for values that come from elsewhere than a request). */
export function isTextLine(value: string): boolean {
  return ONE_LINE_RE.test(value);
}

/** One line of free text: no control character at all. */
export function TextLine(options: Omit<StringOptions, 'pattern'> = {}): TString {
  return Type.String({ ...options, pattern: ONE_LINE });
}

/** Free text over lines: tab, line feed and carriage return allowed, no other control character. */
export function TextBlock(options: Omit<StringOptions, 'pattern'> = {}): TString {
  return Type.String({ ...options, pattern: MULTI_LINE });
}

