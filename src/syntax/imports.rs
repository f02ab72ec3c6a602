//! What a file's imports bind, read with the `@import.*` captures of the language's `imports.scm`,
//! and where a module path lives in the workspace, by the language's `[language.modules]` rules.
//! Pure: the caller says which files exist.

use ropey::Rope;
use streaming_iterator::StreamingIterator;
use tree_sitter::QueryCursor;

use crate::syntax::{ModuleRules, QueryKind, SyntaxTree, slice};

/// One name an import statement binds in the importing file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Binding {
    /// The module path as written (`..utils`, `crate::parse`, `./merge.js`).
    pub module: String,
    /// The imported name (`from m import name`), if the import names one.
    pub name: Option<String>,
    /// The name bound locally, when it differs from `name` (`as x`, `* as ns`).
    pub alias: Option<String>,
    /// `*`: everything in `module` is in scope.
    pub glob: bool,
    /// Rust `mod x;`: `module` is a child of the current module.
    pub submodule: bool,
}

impl Binding {
    /// The name this binding introduces in the file, if any.
    pub fn local(&self, rules: &ModuleRules) -> Option<&str> {
        if let Some(a) = &self.alias {
            return Some(a);
        }
        if let Some(n) = &self.name {
            return Some(n);
        }
        if self.glob {
            return None;
        }
        // `import a.b` binds `a`; `mod x;` binds `x`.
        let sep = if rules.separator.is_empty() { "/" } else { rules.separator.as_str() };
        let segments: Vec<&str> = self.module.trim_start_matches('.').split(sep).filter(|s| !s.is_empty()).collect();
        if self.submodule { segments.last().copied() } else { segments.first().copied() }
    }

    /// The module a qualifier bound by this import stands for: `import a.b as z` → `a.b`;
    /// `from pkg import mod` → `pkg.mod` (the name may be a module); `use crate::a::b` → `crate::a::b`.
    pub fn module_of_local(&self, rules: &ModuleRules) -> String {
        match &self.name {
            Some(n) if !rules.path_like => {
                if self.module.is_empty() {
                    n.clone()
                } else if rules.leading_dots && self.module.chars().all(|c| c == '.') {
                    format!("{}{n}", self.module)
                } else {
                    format!("{}{}{n}", self.module, rules.separator)
                }
            }
            _ => self.module.clone(),
        }
    }
}

/// The bindings of every import in `tree` (at most `limit`).
pub fn bindings(tree: &SyntaxTree, rope: &Rope, limit: usize) -> Vec<Binding> {
    let Some(query) = tree.query(QueryKind::Imports) else { return Vec::new() };
    let rules = &tree.lang.modules;
    let names = query.capture_names();
    let text = rope.to_string();
    let mut cursor = QueryCursor::new();
    let mut matches = cursor.matches(query, tree.root(), text.as_bytes());
    let mut out: Vec<Binding> = Vec::new();
    while let Some(m) = matches.next() {
        let mut b = Binding::default();
        let mut parts: Vec<(usize, String)> = Vec::new();
        let mut any = false;
        for c in m.captures() {
            let t = || slice(rope, c.node.byte_range());
            match names.get(c.index as usize).copied() {
                Some("import.module") => {
                    parts.push((c.node.start_byte(), t()));
                    any = true;
                }
                Some("import.name") => {
                    b.name = Some(t());
                    any = true;
                }
                Some("import.alias") => b.alias = Some(t()),
                Some("import.glob") => b.glob = true,
                Some("import.self") => any = true,
                Some("import.submodule") => {
                    parts.push((c.node.start_byte(), t()));
                    b.submodule = true;
                    any = true;
                }
                _ => {}
            }
        }
        if !any {
            continue;
        }
        parts.sort();
        parts.dedup();
        b.module = parts.into_iter().map(|(_, p)| p).collect::<Vec<_>>().join(&rules.separator);
        if b.submodule {
            let current = rules.current.first().map_or("", String::as_str);
            b.module = format!("{current}{}{}", rules.separator, b.module);
        }
        if !out.contains(&b) {
            out.push(b);
        }
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// Workspace-relative files that module path `module`, imported from `from` (a workspace-relative
/// path), may live in, most likely first. `exists` says whether a file is in the workspace.
pub fn module_files(rules: &ModuleRules, from: &str, module: &str, exists: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for base in module_bases(rules, from, module, exists) {
        for pattern in &rules.files {
            let path = normalize(&pattern.replace("{}", &base));
            if !path.is_empty() && path != from && exists(&path) && !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// Candidate paths (without extension) of a module, most likely first.
fn module_bases(rules: &ModuleRules, from: &str, module: &str, exists: &dyn Fn(&str) -> bool) -> Vec<String> {
    let dir = parent(from);
    let file_name = from.rsplit('/').next().unwrap_or(from);
    if rules.path_like {
        if !module.starts_with('.') {
            return Vec::new(); // a package from outside the workspace
        }
        let mut m = module.to_owned();
        for ext in &rules.strip {
            if let Some(s) = m.strip_suffix(ext.as_str()) {
                m = s.to_owned();
                break;
            }
        }
        return vec![join(dir, &m)];
    }
    let sep = if rules.separator.is_empty() { "." } else { rules.separator.as_str() };
    if rules.leading_dots && module.starts_with('.') {
        let dots = module.chars().take_while(|c| *c == '.').count();
        let mut base = dir.to_owned();
        for _ in 1..dots {
            base = parent(&base).to_owned();
        }
        let rest = module[dots..].split(sep).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/");
        return vec![join(&base, &rest)];
    }
    let segments: Vec<&str> = module.split(sep).filter(|s| !s.is_empty()).collect();
    let Some(first) = segments.first() else { return Vec::new() };
    // The folder a file's child modules live in: its own folder for an index file (mod.rs), else
    // a folder named after it (Rust's a.rs -> a/).
    let own = if rules.index_files.iter().any(|f| f == file_name) || rules.current.is_empty() {
        dir.to_owned()
    } else {
        join(dir, file_name.rsplit_once('.').map_or(file_name, |(stem, _)| stem))
    };
    let (bases, rest): (Vec<String>, &[&str]) = if rules.root.iter().any(|r| r == first) {
        (vec![package_root(rules, from, exists)], &segments[1..])
    } else if rules.current.iter().any(|r| r == first) {
        (vec![own.clone()], &segments[1..])
    } else if rules.parent.iter().any(|r| r == first) {
        let mut base = own.clone();
        let mut i = 0;
        while segments.get(i).is_some_and(|s| rules.parent.iter().any(|p| p == s)) {
            base = parent(&base).to_owned();
            i += 1;
        }
        (vec![base], &segments[i..])
    } else {
        // Absolute: from the current module, the package root, or any folder above the file (a
        // Python `src/` layout imports `pkg.mod` from `src/pkg/x.py`).
        let mut bases = vec![own.clone(), package_root(rules, from, exists)];
        let mut d = dir;
        loop {
            bases.push(d.to_owned());
            if d.is_empty() {
                break;
            }
            d = parent(d);
        }
        bases.dedup();
        (bases, &segments[..])
    };
    let rest = rest.join("/");
    let mut out = Vec::new();
    for b in bases {
        out.push(join(&b, &rest));
        // The path may end in an item, not a module (`use crate::a::f`): its parent as well.
        match rest.rsplit_once('/') {
            Some((head, _)) => out.push(join(&b, head)),
            None if !rest.is_empty() && rules.current.iter().any(|c| c == first) => {}
            None if !rest.is_empty() => out.push(b.clone()),
            None => {}
        }
    }
    out
}

/// The package root of `from`: the nearest folder above it holding one of `root_files`.
fn package_root(rules: &ModuleRules, from: &str, exists: &dyn Fn(&str) -> bool) -> String {
    let mut d = parent(from);
    loop {
        if rules.root_files.iter().any(|f| exists(&join(d, f))) {
            return d.to_owned();
        }
        if d.is_empty() {
            return parent(from).to_owned();
        }
        d = parent(d);
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}/{b}"),
    }
}

/// Resolves `.` and `..` segments; a path that climbs above the root is dropped (empty). An
/// absolute path stays absolute.
fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut out: Vec<&str> = if absolute { vec![""] } else { Vec::new() };
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.pop().is_none_or(str::is_empty) {
                    return String::new();
                }
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Languages;

    fn parse(lang: &str, text: &str) -> Vec<Binding> {
        let info = Languages::global().by_id(lang).unwrap();
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(info, &rope).unwrap();
        bindings(&tree, &rope, 100)
    }

    fn b(module: &str, name: Option<&str>, alias: Option<&str>) -> Binding {
        Binding {
            module: module.into(),
            name: name.map(Into::into),
            alias: alias.map(Into::into),
            ..Binding::default()
        }
    }

    #[test]
    fn python_import_shapes() {
        let got = parse(
            "python",
            "import os.path\nimport numpy as np\nfrom .encoding import want_bytes, base64_decode as bd\nfrom ..exc import *\n",
        );
        assert_eq!(got[0], b("os.path", None, None));
        assert_eq!(got[1], b("numpy", None, Some("np")));
        assert!(got.contains(&b(".encoding", Some("want_bytes"), None)), "{got:?}");
        assert!(got.contains(&b(".encoding", Some("base64_decode"), Some("bd"))), "{got:?}");
        assert!(got.iter().any(|x| x.module == "..exc" && x.glob), "{got:?}");
        let rules = &Languages::global().by_id("python").unwrap().modules;
        assert_eq!(got[0].local(rules), Some("os"));
        assert_eq!(got[1].local(rules), Some("np"));
    }

    #[test]
    fn rust_use_shapes() {
        let got = parse(
            "rust",
            "use crate::parse::Error;\nuse super::{a::b, c, d as e};\nuse crate::x::*;\nuse std::fmt::Write as _;\nmod eval;\n",
        );
        assert!(got.contains(&b("crate::parse", Some("Error"), None)), "{got:?}");
        assert!(got.contains(&b("super::a", Some("b"), None)), "{got:?}");
        assert!(got.contains(&b("super", Some("c"), None)), "{got:?}");
        assert!(got.contains(&b("super", Some("d"), Some("e"))), "{got:?}");
        assert!(got.iter().any(|x| x.module == "crate::x" && x.glob), "{got:?}");
        assert!(got.iter().any(|x| x.module == "self::eval" && x.submodule), "{got:?}");
    }

    #[test]
    fn typescript_import_shapes() {
        let got = parse(
            "typescript",
            "import {a, b as c} from './utils/merge.js';\nimport * as ns from '../x';\nimport Ky from './core/Ky';\nexport {HTTPError} from './errors/HTTPError.js';\n",
        );
        assert!(got.contains(&b("./utils/merge.js", Some("a"), None)), "{got:?}");
        assert!(got.contains(&b("./utils/merge.js", Some("b"), Some("c"))), "{got:?}");
        assert!(got.iter().any(|x| x.module == "../x" && x.glob && x.alias.as_deref() == Some("ns")), "{got:?}");
        assert!(got.contains(&b("./core/Ky", Some("Ky"), None)), "{got:?}");
        assert!(got.contains(&b("./errors/HTTPError.js", Some("HTTPError"), None)), "{got:?}");
    }

    #[test]
    fn module_paths_map_to_files() {
        let files = [
            "src/pkg/__init__.py",
            "src/pkg/encoding.py",
            "src/pkg/sub/x.py",
            "src/lib.rs",
            "src/parse.rs",
            "src/a/mod.rs",
            "src/a/b.rs",
            "source/utils/merge.ts",
            "source/core/Ky.ts",
        ];
        let exists = |p: &str| files.contains(&p);
        let rules = |id: &str| &Languages::global().by_id(id).unwrap().modules;
        let py = rules("python");
        assert_eq!(module_files(py, "src/pkg/signer.py", ".encoding", &exists), ["src/pkg/encoding.py"]);
        assert_eq!(module_files(py, "src/pkg/sub/x.py", "..encoding", &exists), ["src/pkg/encoding.py"]);
        // The last segment may name an item of the package: its file comes second.
        assert_eq!(
            module_files(py, "src/pkg/signer.py", "pkg.encoding", &exists),
            ["src/pkg/encoding.py", "src/pkg/__init__.py"]
        );
        assert_eq!(module_files(py, "src/pkg/signer.py", "pkg", &exists), ["src/pkg/__init__.py"]);
        let rs = rules("rust");
        assert_eq!(module_files(rs, "src/a/b.rs", "crate::parse", &exists), ["src/parse.rs"]);
        assert_eq!(module_files(rs, "src/a/b.rs", "super", &exists), ["src/a/mod.rs"]);
        assert_eq!(module_files(rs, "src/a/mod.rs", "self::b", &exists), ["src/a/b.rs"]);
        assert_eq!(module_files(rs, "src/lib.rs", "self::parse", &exists), ["src/parse.rs"]);
        let ts = rules("typescript");
        assert_eq!(module_files(ts, "source/core/Ky.ts", "../utils/merge.js", &exists), ["source/utils/merge.ts"]);
        assert_eq!(module_files(ts, "source/index.ts", "./core/Ky", &exists), ["source/core/Ky.ts"]);
        assert!(module_files(ts, "source/index.ts", "react", &exists).is_empty());
    }

    /// The server's files are absolute paths: they stay absolute, and `..` never climbs past `/`.
    #[test]
    fn absolute_paths_stay_absolute() {
        let files = [
            "/w/src/pkg/__init__.py",
            "/w/src/pkg/encoding.py",
            "/w/source/utils/merge.ts",
            "/w/src/lib.rs",
            "/w/src/parse.rs",
        ];
        let exists = |p: &str| files.contains(&p);
        let rules = |id: &str| &Languages::global().by_id(id).unwrap().modules;
        let py = rules("python");
        assert_eq!(module_files(py, "/w/src/pkg/signer.py", ".encoding", &exists), ["/w/src/pkg/encoding.py"]);
        assert_eq!(module_files(py, "/w/src/pkg/sub/x.py", "..encoding", &exists), ["/w/src/pkg/encoding.py"]);
        let ts = rules("typescript");
        assert_eq!(
            module_files(ts, "/w/source/core/Ky.ts", "../utils/merge.js", &exists),
            ["/w/source/utils/merge.ts"]
        );
        assert!(module_files(ts, "/w/a.ts", "../../../../etc/passwd", &|_| true).is_empty());
        let rs = rules("rust");
        assert_eq!(module_files(rs, "/w/src/a/b.rs", "crate::parse", &exists), ["/w/src/parse.rs"]);
    }
}
