//! A self-contained HTML page that shows a run's tables and figures together:
//! inline CSS, no scripts, no external assets (images are relative links to
//! the PNG/SVG files written beside the page).

use serde::{Deserialize, Serialize};

/// One block of the report page: a heading, an optional table, figures and a note.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// The section's heading (plain text, escaped).
    pub heading: String,
    /// A table fragment from [`super::table::Table::to_html`] (trusted HTML, inserted as is).
    pub table_html: Option<String>,
    /// Relative file names of PNG/SVG figures beside the page, shown in order.
    pub images: Vec<String>,
    /// A free-text note under the heading (plain text, escaped; line breaks kept).
    pub note: Option<String>,
}

/// Escapes `& < > " '` so any text is safe in HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a relative file name for `src`/`href`, so it can never become a `javascript:` URL.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;border-bottom:2px solid #0072B2;padding-bottom:.3rem}
h2{font-size:1.25rem;margin-top:2.2rem}
nav ol{padding-left:1.4rem}
.note{white-space:pre-wrap;color:#444}
.table-wrap{overflow-x:auto}
table.sslp-table{border-collapse:collapse;font-size:.9rem;margin:.8rem 0}
table.sslp-table th,table.sslp-table td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}
table.sslp-table th{background:#f2f4f7}
table.sslp-table td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.sslp-table tbody tr:nth-child(even){background:#fafbfc}
figure{margin:1rem 0}
figure img{max-width:100%;height:auto;border:1px solid #e3e3e3}
figcaption{font-size:.8rem;color:#666}
";

/// Renders one self-contained HTML page titled `title` with every section in order.
pub fn index(title: &str, sections: &[Section]) -> String {
    let t = escape(title);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n"
    );
    if sections.len() > 1 {
        out.push_str("<nav>\n<ol>\n");
        for (i, s) in sections.iter().enumerate() {
            out.push_str(&format!(
                "<li><a href=\"#s{}\">{}</a></li>\n",
                i + 1,
                escape(&s.heading)
            ));
        }
        out.push_str("</ol>\n</nav>\n");
    }
    for (i, s) in sections.iter().enumerate() {
        out.push_str(&format!(
            "<section id=\"s{}\">\n<h2>{}</h2>\n",
            i + 1,
            escape(&s.heading)
        ));
        if let Some(note) = &s.note {
            out.push_str(&format!("<p class=\"note\">{}</p>\n", escape(note)));
        }
        if let Some(table) = &s.table_html {
            out.push_str(&format!("<div class=\"table-wrap\">\n{table}</div>\n"));
        }
        for img in &s.images {
            let src = encode_path(img);
            let name = escape(img);
            out.push_str(&format!(
                "<figure>\n<a href=\"{src}\"><img src=\"{src}\" alt=\"{name}\" loading=\"lazy\"></a>\n\
                 <figcaption>{name}</figcaption>\n</figure>\n"
            ));
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::results::ResultRow;
    use super::super::table::{TableSpec, build};
    use super::*;

    #[test]
    fn escapes_everything_and_has_no_script() {
        let row = ResultRow {
            arm: "<script>alert(1)</script>".into(),
            decl: "lin".into(),
            kind: "linear_probe".into(),
            eval: "e".into(),
            metrics: [("top1".to_string(), 0.5)].into_iter().collect(),
            ..ResultRow::default()
        };
        let table = build(
            &[row],
            &TableSpec {
                metrics: vec!["lin.top1".into()],
                ..TableSpec::default()
            },
        )
        .unwrap();
        let page = index(
            "Run <b>1</b>",
            &[
                Section {
                    heading: "<script>x</script>".into(),
                    table_html: Some(table.to_html()),
                    images: vec!["fig 1.png".into(), "javascript:alert(1)".into()],
                    note: Some("a & b\n\"quoted\"".into()),
                },
                Section {
                    heading: "second".into(),
                    ..Section::default()
                },
            ],
        );
        assert!(!page.to_lowercase().contains("<script"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("<title>Run &lt;b&gt;1&lt;/b&gt;</title>"));
        assert!(page.contains("src=\"fig%201.png\""));
        assert!(page.contains("src=\"javascript%3Aalert%281%29\""));
        assert!(page.contains("a &amp; b\n&quot;quoted&quot;"));
        assert!(page.contains("<a href=\"#s2\">second</a>"));
        assert!(!page.contains("http"));
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.ends_with("</html>\n"));
    }

    #[test]
    fn empty_page() {
        let page = index("", &[]);
        assert!(page.contains("<h1></h1>"));
        assert!(!page.contains("<nav>"));
    }
}
