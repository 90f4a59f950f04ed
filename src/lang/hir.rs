//! The checked program: names resolved, calls matched to their schema with
//! defaults filled in, sweeps numbered. This is what the planner reads.

use super::ast::DeclKind;
use super::registry::Kind;
use super::span::{FileId, Span};

/// Index of a declaration in [`Program::decls`].
pub type DeclId = usize;
/// Index of a sweep in [`Program::sweeps`].
pub type SweepId = usize;

/// A checked program.
#[derive(Debug, Clone)]
pub struct Program {
    /// Every declaration of every module.
    pub decls: Vec<HDecl>,
    /// Every sweep (one per `sweep` written).
    pub sweeps: Vec<HSweep>,
    /// `set` values with defaults filled in.
    pub settings: Settings,
    /// The root file.
    pub root: FileId,
}

/// Pipeline-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Base seed.
    pub seed: i64,
    /// Training device (`cpu`, `cuda`, `cuda:1`).
    pub device: String,
    /// Floating-point precision.
    pub precision: String,
    /// Title for reports.
    pub name: Option<String>,
    /// Where steps run: the checked `local()` or `slurm(...)` call (a `let` it names
    /// followed), whose arguments may still name `let`s.
    pub executor: HExpr,
}

/// A checked declaration.
#[derive(Debug, Clone)]
pub struct HDecl {
    /// Declared name.
    pub name: String,
    /// Keyword.
    pub kind: DeclKind,
    /// The file it is in.
    pub file: FileId,
    /// The whole declaration.
    pub span: Span,
    /// Its name.
    pub name_span: Span,
    /// Its value: for block declarations, a call of the block's schema.
    pub value: HExpr,
    /// `zip` groups (sweeps that advance together).
    pub zips: Vec<Vec<SweepId>>,
    /// `exclude` rules: arms matching every (sweep, alternative) pair are dropped.
    pub excludes: Vec<Vec<(SweepId, usize)>>,
    /// Declarations it refers to directly.
    pub refs: Vec<DeclId>,
}

impl HDecl {
    /// The schema of its value when it is a call (eval kind, dataset kind, pretrain, ...).
    pub fn call(&self) -> Option<&HCall> {
        match &self.value {
            HExpr::Call(c) => Some(c),
            _ => None,
        }
    }

    /// True for declarations that become steps (datasets, splits, runs, evaluations, reports).
    pub fn is_step(&self) -> bool {
        matches!(
            self.kind,
            DeclKind::Dataset
                | DeclKind::Split
                | DeclKind::Pretrain
                | DeclKind::Evaluate
                | DeclKind::Report
        )
    }
}

/// A checked value.
#[derive(Debug, Clone, PartialEq)]
pub enum HExpr {
    /// An optional parameter left out.
    None,
    /// Integer.
    Int(i64),
    /// Real.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// String.
    Str(String),
    /// Enum word.
    Enum(String),
    /// Closed interval.
    Range(f64, f64),
    /// List.
    List(Vec<HExpr>),
    /// A call with every parameter (defaults filled in).
    Call(Box<HCall>),
    /// A declaration by name.
    Ref(DeclId),
    /// `decl.member`: a split part, a metric or a swept field.
    Member(DeclId, String),
    /// A sweep; its alternatives are in [`Program::sweeps`].
    Sweep(SweepId),
    /// `op @ p`.
    Prob(Box<HExpr>, Box<HExpr>),
    /// A policy: items (`Prob`) and spliced policies (refs, sweeps, nested policies).
    Policy(Vec<HExpr>),
}

/// A call matched to its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct HCall {
    /// The kind called.
    pub kind: &'static Kind,
    /// One value per schema parameter, in schema order.
    pub args: Vec<HExpr>,
    /// Which parameters were written (the rest are defaults).
    pub explicit: Vec<bool>,
    /// Where the call was written.
    pub span: Span,
    /// Where each written argument's value was (for diagnostics found later).
    pub arg_spans: Vec<Option<Span>>,
}

impl HCall {
    /// The value of a parameter by name.
    pub fn arg(&self, name: &str) -> Option<&HExpr> {
        self.kind.param(name).map(|(i, _)| &self.args[i])
    }

    /// The span of a parameter's value if written, else of the call.
    pub fn arg_span(&self, name: &str) -> Span {
        self.kind
            .param(name)
            .and_then(|(i, _)| self.arg_spans[i])
            .unwrap_or(self.span)
    }
}

/// A sweep: one axis of the experiment grid.
#[derive(Debug, Clone, PartialEq)]
pub struct HSweep {
    /// The declaration it is written in.
    pub decl: DeclId,
    /// Axis name: the field path (`method`, `method.temperature`), or the declaration's name for `let`.
    pub name: String,
    /// The values.
    pub alts: Vec<HExpr>,
    /// A short readable label per value (for arm names and `exclude`).
    pub labels: Vec<String>,
    /// Where it was written.
    pub span: Span,
}
