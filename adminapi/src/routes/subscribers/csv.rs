//! A small RFC 4180 reader for the bulk import: comma-separated, `"` quotes with `""` for
//! a quote inside, CRLF or LF line ends, a UTF-8 byte-order mark ignored.
//!
//! Small enough not to be worth a dependency, and it reports where a file is malformed
//! in the numbering the import's error report uses (the header is row 1).

/// Why a file cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum CsvError {
    /// Not UTF-8.
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    /// A quoted field never closes.
    #[error("row {row}: a quoted field is not closed")]
    Unclosed {
        /// The record it starts in.
        row: usize,
    },
    /// Text right after a closing quote.
    #[error("row {row}: unexpected text after a closing quote")]
    AfterQuote {
        /// The record.
        row: usize,
    },
}

/// The records of `input`, blank lines skipped; each with its number (first = 1).
pub(super) fn records(input: &[u8]) -> Result<Vec<(usize, Vec<String>)>, CsvError> {
    let text = std::str::from_utf8(input).map_err(|_| CsvError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut row = 1;
    // Whether the current record has any content (a blank line has none).
    let mut started = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() => {
                started = true;
                loop {
                    match chars.next() {
                        None => return Err(CsvError::Unclosed { row }),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => field.push(c),
                    }
                }
                match chars.peek() {
                    None | Some(',' | '\r' | '\n') => {}
                    Some(_) => return Err(CsvError::AfterQuote { row }),
                }
            }
            ',' => {
                started = true;
                fields.push(std::mem::take(&mut field));
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                if started {
                    fields.push(std::mem::take(&mut field));
                    out.push((row, std::mem::take(&mut fields)));
                    row += 1;
                }
                started = false;
            }
            c => {
                started = true;
                field.push(c);
            }
        }
    }
    if started {
        fields.push(field);
        out.push((row, fields));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(s: &str) -> Vec<Vec<String>> {
        records(s.as_bytes())
            .unwrap()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    #[test]
    fn quotes_line_ends_and_blank_lines() {
        assert_eq!(
            rows("\u{feff}a,b,c\r\n1,\"x, \"\"y\"\"\",\n\n\"multi\nline\",,z"),
            vec![
                vec!["a", "b", "c"],
                vec!["1", "x, \"y\"", ""],
                vec!["multi\nline", "", "z"],
            ]
        );
        let numbered = records(b"h\n\nx\ny\n").unwrap();
        assert_eq!(
            numbered.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn malformed_files_name_the_row() {
        assert_eq!(
            records(b"a\n\"open").unwrap_err(),
            CsvError::Unclosed { row: 2 }
        );
        assert_eq!(
            records(b"a\n\"x\"y,1").unwrap_err(),
            CsvError::AfterQuote { row: 2 }
        );
        assert_eq!(records(b"\xff").unwrap_err(), CsvError::NotUtf8);
    }
}
