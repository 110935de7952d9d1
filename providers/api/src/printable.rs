//! Text from outside kindform (what helm, kind and the API answer, pod
//! logs, build output, HTTP bodies) made safe to show: the run's secrets
//! scrubbed, and terminal control bytes taken out, so that a pod log or a
//! chart's error cannot move the cursor, retitle the terminal or hide a
//! line behind escape sequences.

use std::borrow::Cow;

/// `text` without control characters (newlines and tabs kept) and with
/// the run's secrets scrubbed.
pub fn printable(text: &str) -> Cow<'_, str> {
    clean(text, false)
}

/// [`printable`] for text kindform coloured itself: colour sequences
/// (`ESC [` digits and `;` `m`) are kept, every other control taken out.
/// A colour is all outside text could add to it.
pub fn printable_styled(text: &str) -> Cow<'_, str> {
    clean(text, true)
}

fn clean(text: &str, keep_colour: bool) -> Cow<'_, str> {
    let scrubbed = crate::secrets::scrub(text);
    if !scrubbed.chars().any(is_control) {
        return scrubbed;
    }
    let mut out = String::with_capacity(scrubbed.len());
    let mut chars = scrubbed.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An escape sequence: ESC, then `[` and parameters up to a
            // final byte (CSI), or `]` up to BEL or ESC `\` (OSC), or one
            // more character.
            match chars.next() {
                Some('[') => {
                    let mut sequence = String::from("\u{1b}[");
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        sequence.push(n);
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                    let colour = sequence.ends_with('m')
                        && sequence[2..sequence.len() - 1]
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == ';');
                    if keep_colour && colour {
                        out.push_str(&sequence);
                    }
                }
                Some(']') => {
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' || (n == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            }
        } else if !is_control(c) {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_control_bytes_are_taken_out() {
        assert_eq!(printable("plain\ttext\nnext"), "plain\ttext\nnext");
        assert_eq!(printable("\u{1b}[31mred\u{1b}[0m"), "red");
        assert_eq!(printable("\u{1b}]0;owned title\u{7}after"), "after");
        assert_eq!(printable("\u{1b}]8;;http://x\u{1b}\\link"), "link");
        assert_eq!(printable("over\rwrite\u{8}\u{0}"), "overwrite");
        assert_eq!(printable("c1 \u{9b}2J"), "c1 2J");
        assert_eq!(
            printable_styled("\u{1b}[1;31mred\u{1b}[0m \u{1b}[2J\u{1b}]0;t\u{7}"),
            "\u{1b}[1;31mred\u{1b}[0m "
        );
    }
}
