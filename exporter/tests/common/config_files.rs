//! Configuration files kept as `testdata/DIR/*.good.yml` (must load) and `*.bad.yml` (must
//! fail; the first line says the exact error, `# error: ...`), as exporter-toolkit keeps its
//! web configurations.

use std::path::{Path, PathBuf};

use super::TempDir;

/// `exporter/testdata/{name}`.
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// A temporary directory with copies of `testdata/{name}`.
pub fn copy_of_testdata(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    for entry in std::fs::read_dir(testdata(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// Loads every `*.good.yml` of `dir` (at least `at_least`), panicking on the first error.
pub fn check_good_files(dir: &Path, at_least: usize, load: impl Fn(&Path) -> Result<(), String>) {
    let good = files_ending(dir, ".good.yml");
    assert!(good.len() >= at_least);
    for path in good {
        if let Err(error) = load(&path) {
            panic!("{} should load: {error}", path.display());
        }
    }
}

/// Loads every `*.bad.yml` of `dir` (copies of `testdata/{name}`, at least `at_least`) and
/// compares the error, with `dir` left out of it, with the file's first line; returns the
/// errors. With `UPDATE_GOLDEN` set, rewrites the expectations in testdata instead (review
/// the diff by eye).
pub fn check_bad_files(
    dir: &Path,
    name: &str,
    at_least: usize,
    load: impl Fn(&Path) -> Result<(), String>,
) -> Vec<String> {
    let bad = files_ending(dir, ".bad.yml");
    assert!(bad.len() >= at_least);
    let prefix = format!("{}/", dir.display());
    let mut errors = Vec::new();
    for path in bad {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{} has no '# error:' line", path.display()));
        let error = match load(&path) {
            Ok(()) => panic!("{} should not load", path.display()),
            Err(error) => error.replace(&prefix, ""),
        };
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            let original = testdata(name).join(path.file_name().unwrap());
            let rest = text.split_once('\n').map_or("", |(_, rest)| rest);
            std::fs::write(original, format!("# error: {error}\n{rest}")).unwrap();
        } else {
            assert_eq!(error, expected, "{}", path.display());
        }
        errors.push(error);
    }
    errors
}
