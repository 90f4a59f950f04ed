//! `sslp textconv FILE`: one line per arm, for git's textconv driver, so
//! `git diff`, `git log -p` and `git show` display design changes.

use super::{OK, emit, read};
use crate::git;
use crate::lang::diagnostic::render;
use crate::plan::render as plan_render;
use crate::project;
use std::path::Path;

/// `sslp textconv FILE`: the plan as [`plan_render::arm_lines`]. Git hands
/// over the working tree's file by its path, or a copy (`…/git-blob-XXXXXX/NAME`,
/// `XXXXXX_NAME` in older gits) that is found in the repository by its content
/// ([`git::Repo::find_content`]) to read its imports at that revision.
/// A file that does not check prints its diagnostics and its text instead:
/// the exit status is 0 whenever the file can be read, so git always has a text.
pub fn textconv(file: &Path) -> u8 {
    let text = match read(file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let name = file
        .file_name()
        .map(|n| git_copy_name(&n.to_string_lossy()).to_string())
        .unwrap_or_else(|| file.display().to_string());
    // Git runs drivers at the top of the working tree; by hand, the file's own repository.
    let located = git::Repo::discover(Path::new("."))
        .or_else(|| file.parent().and_then(git::Repo::discover))
        .and_then(|repo| repo.find_content(file, &name).map(|found| (repo, found)));
    let (title, (checked, plan)) = match located {
        // The path alone: a header that names the revision would differ in every diff.
        Some((repo, (path, rev))) => {
            let planned = repo.check_and_plan(&path, &rev, &text);
            (path, planned)
        }
        None => (name, project::check_and_plan_text(file, &text)),
    };
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    match plan {
        Some(p) if errors == 0 => emit(&plan_render::arm_lines(&p, &title)),
        _ => {
            let mut out = format!(
                "# sslp: {title} does not check ({errors} error{}); its text follows\n",
                if errors == 1 { "" } else { "s" }
            );
            for line in render::short(&checked.diagnostics, &checked.sources).lines() {
                out.push_str(&format!("# {line}\n"));
            }
            out.push_str(&text);
            emit(&out);
        }
    }
    OK
}

/// `NAME` from an older git's temporary copy `XXXXXX_NAME` (six random
/// characters and `_`); other names as they are.
fn git_copy_name(file_name: &str) -> &str {
    match file_name.split_at_checked(7) {
        Some((prefix, rest))
            if !rest.is_empty()
                && prefix.ends_with('_')
                && prefix[..6].bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            rest
        }
        _ => file_name,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn git_copies_are_named_after_the_file() {
        assert_eq!(super::git_copy_name("Ab12xY_main.sslp"), "main.sslp");
        assert_eq!(super::git_copy_name("main.sslp"), "main.sslp");
        assert_eq!(super::git_copy_name("abcdef_"), "abcdef_");
        assert_eq!(super::git_copy_name("ab-def_x.sslp"), "ab-def_x.sslp");
    }
}
