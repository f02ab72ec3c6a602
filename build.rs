//! Embeds every query file under grammars/queries/<lang>/<name>.scm, so adding a language's queries
//! is adding files, not code.

use std::{env, fs, path::Path};

fn main() {
    let root = Path::new("grammars/queries");
    println!("cargo:rerun-if-changed=grammars");
    let mut entries = Vec::new();
    if let Ok(langs) = fs::read_dir(root) {
        for lang in langs.flatten() {
            let Ok(files) = fs::read_dir(lang.path()) else { continue };
            for file in files.flatten() {
                let path = file.path();
                if path.extension().and_then(|e| e.to_str()) != Some("scm") {
                    continue;
                }
                let (Some(lang), Some(name)) = (
                    lang.file_name().to_str().map(str::to_owned),
                    path.file_stem().and_then(|s| s.to_str()).map(str::to_owned),
                ) else {
                    continue;
                };
                let abs = fs::canonicalize(&path).expect("query path");
                entries.push(format!("    ({lang:?}, {name:?}, include_str!({:?})),\n", abs.display().to_string()));
            }
        }
    }
    entries.sort();
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("queries.rs");
    let body = format!(
        "/// (queries folder, query name, source) for every grammars/queries/*/*.scm file.\npub static QUERY_FILES: &[(&str, &str, &str)] = &[\n{}];\n",
        entries.concat()
    );
    fs::write(out, body).expect("write queries.rs");
}
