//! Diagnostics about source text: typed codes per phase, spans, labels, help.
//!
//! Every problem the language front end finds is a [`Diagnostic`] value with
//! a stable [`Code`]; nothing is printed here. Rendering (miette's graphical
//! report, or JSON for editors and CI) lives in [`render`].

use super::span::{SourceMap, Span};
use serde::Serialize;

/// Stable diagnostic codes, grouped by the phase that reports them.
///
/// The string form (`sslp::check::unknown_argument`) is part of the tool's
/// interface: editors and CI match on it. Never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The text does not follow the grammar.
    ParseSyntax,
    /// A number literal does not fit its type.
    ParseNumber,
    /// A string literal has a bad escape.
    ParseString,
    /// `use` names a module that does not exist.
    ImportUnknownModule,
    /// A relative import could not be read.
    ImportRead,
    /// A relative import resolves outside the project root.
    ImportOutsideProject,
    /// `use` names something the module does not declare.
    ImportUnknownName,
    /// Two declarations (or imports) bind the same name.
    DuplicateName,
    /// A name is used but never declared.
    UndefinedName,
    /// A call names no registered kind.
    UnknownKind,
    /// A kind is used where another category is expected (a method as an op).
    WrongCategory,
    /// A call or block has an argument its kind does not take.
    UnknownArgument,
    /// A required argument is missing.
    MissingArgument,
    /// An argument is given twice.
    DuplicateArgument,
    /// More positional arguments than the kind has parameters.
    TooManyArguments,
    /// A value has the wrong type.
    TypeMismatch,
    /// A value is outside its allowed range.
    OutOfRange,
    /// A `lo..hi` range with `lo > hi`, or a sweep range that is empty.
    BadRange,
    /// Declarations refer to each other in a loop.
    Cycle,
    /// `decl.member` names a member the declaration does not have.
    UnknownMember,
    /// An unknown `set` name.
    UnknownSetting,
    /// A sweep where none is allowed, or an empty sweep.
    BadSweep,
    /// A zip or exclude names an axis that does not exist, or zips axes of different lengths.
    BadDirective,
    /// The views do not fit the method (one view for a two-view method, local crops for SimCLR).
    ViewMismatch,
    /// A pretraining run has no augmentation policy for some view.
    MissingPolicy,
    /// Expanding the sweeps yields no arm at all, or too many.
    PlanEmpty,
    /// A report groups by a parameter that no arm it collects sweeps.
    UnsweptAxis,
    /// A written parameter has no effect given a sibling (`epochs` under `solver: lbfgs`).
    IgnoredParameter,
    /// A value that will be clamped when the step runs (kNN `k` above the labelled images).
    Clamped,
    /// A MoCo queue longer than the images it is filled from.
    QueueLongerThanData,
    /// An offline op that cannot be served from the content-hash cache.
    UncacheableOffline,
    /// A backbone with nothing to train (`raw_pixels`) where a network is trained.
    UntrainableBackbone,
}

impl Code {
    /// Every code, in declaration order. The checker corpus (`tests/corpus/`)
    /// fails when one has no case. Kept complete by the unit test
    /// `all_lists_every_code` (which compares it with the enum's declaration)
    /// and by an exhaustive `match` that stops compiling when a variant is added.
    pub const ALL: &'static [Code] = &[
        Code::ParseSyntax,
        Code::ParseNumber,
        Code::ParseString,
        Code::ImportUnknownModule,
        Code::ImportRead,
        Code::ImportOutsideProject,
        Code::ImportUnknownName,
        Code::DuplicateName,
        Code::UndefinedName,
        Code::UnknownKind,
        Code::WrongCategory,
        Code::UnknownArgument,
        Code::MissingArgument,
        Code::DuplicateArgument,
        Code::TooManyArguments,
        Code::TypeMismatch,
        Code::OutOfRange,
        Code::BadRange,
        Code::Cycle,
        Code::UnknownMember,
        Code::UnknownSetting,
        Code::BadSweep,
        Code::BadDirective,
        Code::ViewMismatch,
        Code::MissingPolicy,
        Code::PlanEmpty,
        Code::UnsweptAxis,
        Code::IgnoredParameter,
        Code::Clamped,
        Code::QueueLongerThanData,
        Code::UncacheableOffline,
        Code::UntrainableBackbone,
    ];

    /// The code's index in [`Code::ALL`]: an exhaustive `match`, so a new variant
    /// must be given a place (and added to `ALL`) before this compiles.
    #[cfg(test)]
    fn position(self) -> usize {
        match self {
            Code::ParseSyntax => 0,
            Code::ParseNumber => 1,
            Code::ParseString => 2,
            Code::ImportUnknownModule => 3,
            Code::ImportRead => 4,
            Code::ImportOutsideProject => 5,
            Code::ImportUnknownName => 6,
            Code::DuplicateName => 7,
            Code::UndefinedName => 8,
            Code::UnknownKind => 9,
            Code::WrongCategory => 10,
            Code::UnknownArgument => 11,
            Code::MissingArgument => 12,
            Code::DuplicateArgument => 13,
            Code::TooManyArguments => 14,
            Code::TypeMismatch => 15,
            Code::OutOfRange => 16,
            Code::BadRange => 17,
            Code::Cycle => 18,
            Code::UnknownMember => 19,
            Code::UnknownSetting => 20,
            Code::BadSweep => 21,
            Code::BadDirective => 22,
            Code::ViewMismatch => 23,
            Code::MissingPolicy => 24,
            Code::PlanEmpty => 25,
            Code::UnsweptAxis => 26,
            Code::IgnoredParameter => 27,
            Code::Clamped => 28,
            Code::QueueLongerThanData => 29,
            Code::UncacheableOffline => 30,
            Code::UntrainableBackbone => 31,
        }
    }

    /// The stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ParseSyntax => "sslp::parse::syntax",
            Code::ParseNumber => "sslp::parse::number",
            Code::ParseString => "sslp::parse::string",
            Code::ImportUnknownModule => "sslp::import::unknown_module",
            Code::ImportRead => "sslp::import::read",
            Code::ImportOutsideProject => "sslp::import::outside_project",
            Code::ImportUnknownName => "sslp::import::unknown_name",
            Code::DuplicateName => "sslp::check::duplicate_name",
            Code::UndefinedName => "sslp::check::undefined_name",
            Code::UnknownKind => "sslp::check::unknown_kind",
            Code::WrongCategory => "sslp::check::wrong_category",
            Code::UnknownArgument => "sslp::check::unknown_argument",
            Code::MissingArgument => "sslp::check::missing_argument",
            Code::DuplicateArgument => "sslp::check::duplicate_argument",
            Code::TooManyArguments => "sslp::check::too_many_arguments",
            Code::TypeMismatch => "sslp::check::type_mismatch",
            Code::OutOfRange => "sslp::check::out_of_range",
            Code::BadRange => "sslp::check::bad_range",
            Code::Cycle => "sslp::check::cycle",
            Code::UnknownMember => "sslp::check::unknown_member",
            Code::UnknownSetting => "sslp::check::unknown_setting",
            Code::BadSweep => "sslp::check::bad_sweep",
            Code::BadDirective => "sslp::check::bad_directive",
            Code::ViewMismatch => "sslp::check::view_mismatch",
            Code::MissingPolicy => "sslp::check::missing_policy",
            Code::PlanEmpty => "sslp::plan::empty",
            Code::UnsweptAxis => "sslp::plan::unswept_axis",
            Code::IgnoredParameter => "sslp::check::ignored_parameter",
            Code::Clamped => "sslp::plan::clamped",
            Code::QueueLongerThanData => "sslp::plan::queue_longer_than_data",
            Code::UncacheableOffline => "sslp::check::uncacheable_offline",
            Code::UntrainableBackbone => "sslp::check::untrainable_backbone",
        }
    }
}

/// A span with a message, pointing at the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there.
    pub message: String,
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The program is rejected.
    Error,
    /// Worth a look; the program is still accepted.
    Warning,
}

/// One problem found in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// One-line summary.
    pub message: String,
    /// The main place.
    pub primary: Label,
    /// Other places worth showing ("first defined here").
    pub secondary: Vec<Label>,
    /// A hint: "did you mean `x`?", the allowed values, ...
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with a primary label.
    pub fn error(
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: Label {
                span,
                message: label.into(),
            },
            secondary: Vec::new(),
            help: None,
        }
    }

    /// A warning with a primary label.
    pub fn warning(
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message, label)
        }
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a help line when one is given.
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// True for errors (not warnings).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The replacement the help suggests for the text under the primary span, when it
    /// says "did you mean `x`?" (the checker's form for every close-name suggestion).
    pub fn suggestion(&self) -> Option<&str> {
        let help = self.help.as_deref()?;
        let rest = help.strip_prefix("did you mean `")?;
        let name = rest.strip_suffix("`?")?;
        (!name.is_empty() && !name.contains('`')).then_some(name)
    }
}

/// Sorts diagnostics by file and position, so output is stable.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| {
        (
            d.primary.span.file,
            d.primary.span.start,
            d.primary.span.end,
            d.code,
        )
    });
}

/// Rendering of diagnostics for people (miette) and programs (JSON).
pub mod render {
    use super::*;
    use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
    use std::fmt;

    struct Shown<'a> {
        diag: &'a Diagnostic,
        source: NamedSource<String>,
        same_file_secondary: Vec<&'a Label>,
    }

    impl fmt::Debug for Shown<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.diag.message)
        }
    }
    impl fmt::Display for Shown<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.diag.message)
        }
    }
    impl std::error::Error for Shown<'_> {}

    fn to_source_span(span: Span) -> SourceSpan {
        SourceSpan::new((span.start as usize).into(), span.len())
    }

    impl miette::Diagnostic for Shown<'_> {
        fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
            Some(Box::new(self.diag.code.as_str()))
        }
        fn severity(&self) -> Option<miette::Severity> {
            Some(match self.diag.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            })
        }
        fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
            self.diag
                .help
                .as_ref()
                .map(|h| Box::new(h) as Box<dyn fmt::Display>)
        }
        fn source_code(&self) -> Option<&dyn miette::SourceCode> {
            Some(&self.source)
        }
        fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
            let primary = LabeledSpan::new_primary_with_span(
                Some(self.diag.primary.message.clone()),
                to_source_span(self.diag.primary.span),
            );
            let rest = self.same_file_secondary.iter().map(|l| {
                LabeledSpan::new_with_span(Some(l.message.clone()), to_source_span(l.span))
            });
            Some(Box::new(std::iter::once(primary).chain(rest)))
        }
    }

    /// Renders one diagnostic as miette's graphical report.
    ///
    /// `color` off gives byte-stable text for snapshots and logs.
    pub fn graphical(diag: &Diagnostic, sources: &SourceMap, color: bool, width: usize) -> String {
        let file = sources.get(diag.primary.span.file);
        let same_file_secondary = diag
            .secondary
            .iter()
            .filter(|l| l.span.file == diag.primary.span.file)
            .collect();
        let shown = Shown {
            diag,
            source: NamedSource::new(file.name.clone(), file.text.to_string()),
            same_file_secondary,
        };
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(width);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, &shown);
        // Labels in other files (an import's declaration) as plain lines.
        for l in diag
            .secondary
            .iter()
            .filter(|l| l.span.file != diag.primary.span.file)
        {
            let other = sources.get(l.span.file);
            let (line, col) = other.line_col(l.span.start);
            out.push_str(&format!(
                "  note: {}:{line}:{col}: {}\n",
                other.name, l.message
            ));
        }
        out
    }

    /// Renders many diagnostics, then a summary line.
    pub fn graphical_all(diags: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
        let mut out = String::new();
        for d in diags {
            out.push_str(&graphical(d, sources, color, 100));
            out.push('\n');
        }
        let errors = diags.iter().filter(|d| d.is_error()).count();
        let warnings = diags.len() - errors;
        if errors > 0 || warnings > 0 {
            out.push_str(&format!(
                "{} error{}, {} warning{}\n",
                errors,
                if errors == 1 { "" } else { "s" },
                warnings,
                if warnings == 1 { "" } else { "s" }
            ));
        }
        out
    }

    #[derive(Serialize)]
    struct JsonLabel {
        file: String,
        line: usize,
        column: usize,
        end_line: usize,
        end_column: usize,
        start: u32,
        end: u32,
        message: String,
    }

    #[derive(Serialize)]
    struct JsonDiag {
        code: &'static str,
        severity: Severity,
        message: String,
        file: String,
        line: usize,
        column: usize,
        labels: Vec<JsonLabel>,
        help: Option<String>,
    }

    fn json_label(l: &Label, sources: &SourceMap) -> JsonLabel {
        let file = sources.get(l.span.file);
        let (line, column) = file.line_col(l.span.start);
        let (end_line, end_column) = file.line_col(l.span.end);
        JsonLabel {
            file: file.name.clone(),
            line,
            column,
            end_line,
            end_column,
            start: l.span.start,
            end: l.span.end,
            message: l.message.clone(),
        }
    }

    /// Renders diagnostics as a JSON array (one object per diagnostic).
    pub fn json(diags: &[Diagnostic], sources: &SourceMap) -> String {
        let out: Vec<JsonDiag> = diags
            .iter()
            .map(|d| {
                let primary = json_label(&d.primary, sources);
                let mut labels = vec![];
                let (file, line, column) = (primary.file.clone(), primary.line, primary.column);
                labels.push(primary);
                labels.extend(d.secondary.iter().map(|l| json_label(l, sources)));
                JsonDiag {
                    code: d.code.as_str(),
                    severity: d.severity,
                    message: d.message.clone(),
                    file,
                    line,
                    column,
                    labels,
                    help: d.help.clone(),
                }
            })
            .collect();
        serde_json::to_string_pretty(&out).unwrap_or_else(|_| "[]".into())
    }

    /// One line per diagnostic: `file:line:col: error[code]: message`.
    pub fn short(diags: &[Diagnostic], sources: &SourceMap) -> String {
        let mut out = String::new();
        for d in diags {
            let file = sources.get(d.primary.span.file);
            let (line, col) = file.line_col(d.primary.span.start);
            let sev = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            out.push_str(&format!(
                "{}:{line}:{col}: {sev}[{}]: {}\n",
                file.name,
                d.code.as_str(),
                d.message
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The variant names of `enum Code`, read from this file's source.
    fn declared_variants() -> Vec<String> {
        let src = include_str!("diagnostic.rs");
        let start = src.find("pub enum Code {").expect("the enum") + "pub enum Code {".len();
        let body = &src[start..start + src[start..].find('}').expect("its end")];
        body.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("//") && !l.is_empty())
            .map(|l| l.trim_end_matches(',').to_string())
            .collect()
    }

    #[test]
    fn suggestions_are_read_from_the_help() {
        let d = Diagnostic::error(Code::UnknownKind, Span::default(), "m", "l");
        assert_eq!(d.suggestion(), None);
        let d = d.with_help("did you mean `simclr`?");
        assert_eq!(d.suggestion(), Some("simclr"));
        let d = d.with_help("expected one of: a, b");
        assert_eq!(d.suggestion(), None);
    }

    #[test]
    fn all_lists_every_code() {
        let n = Code::ALL.len();
        // In declaration order, and each at the place the exhaustive `match` in
        // `position` gives it (a new variant does not compile until it has one).
        for (i, &c) in Code::ALL.iter().enumerate() {
            assert_eq!(
                c as usize, i,
                "{c:?} is out of declaration order in Code::ALL"
            );
            assert_eq!(c.position(), i, "{c:?} is out of place in Code::position");
        }
        // Every declared variant is listed (catches one appended and not listed).
        let listed: Vec<String> = Code::ALL.iter().map(|c| format!("{c:?}")).collect();
        assert_eq!(
            listed,
            declared_variants(),
            "Code::ALL differs from `enum Code`"
        );
        let codes: HashSet<Code> = Code::ALL.iter().copied().collect();
        assert_eq!(codes.len(), n, "Code::ALL lists a code twice");
        let strings: HashSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(strings.len(), n, "two codes share a string form");
        assert!(strings.iter().all(|s| s.starts_with("sslp::")));
    }
}
