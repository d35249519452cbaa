//! The app shell's size, raw and brotli-compressed, from the dist build's
//! `asset-manifest.json` (what the service worker precaches), and the wasm's section sizes
//! (read by a small parser: no tool download) to see what inflates it.

use std::{fs, path::Path};

use anyhow::Context as _;

/// Sizes of `dist/` (build it first with `cargo xtask build`).
pub fn measure(root: &Path) -> anyhow::Result<String> {
    let dist = root.join("dist");
    let list: serde_json::Value = serde_json::from_slice(
        &fs::read(dist.join("asset-manifest.json"))
            .context("dist/asset-manifest.json is missing: run `cargo xtask build` first")?,
    )?;
    let mut raw = 0u64;
    let mut brotli = 0u64;
    let mut wasm = None;
    for file in list["files"].as_array().context("no files list")? {
        let name = file.as_str().unwrap_or_default().trim_start_matches('/');
        // What the page itself loads: the service worker's own files and the icons are
        // precached too, but they are not the shell a person waits for.
        if name.ends_with(".br") || name.starts_with("nimo-sw") || name.starts_with("icons/") {
            continue;
        }
        let path = dist.join(name);
        let size = fs::metadata(&path)
            .with_context(|| format!("{name} listed but missing"))?
            .len();
        raw += size;
        brotli += fs::metadata(format!("{}.br", path.display())).map_or(size, |m| m.len());
        if name.starts_with("nimo-app_bg") && name.ends_with(".wasm") {
            wasm = Some(path);
        }
    }
    let mut line = format!(
        "app shell (the page's files): {:.1} KB raw, {:.1} KB brotli (goal ≤ 440 KB brotli)",
        raw as f64 / 1000.0,
        brotli as f64 / 1000.0
    );
    if let Some(wasm) = wasm {
        let bytes = fs::read(&wasm)?;
        let br = fs::metadata(format!("{}.br", wasm.display())).map_or(0, |m| m.len());
        line.push_str(&format!(
            " | wasm {:.1} KB raw, {:.1} KB brotli; sections:",
            bytes.len() as f64 / 1000.0,
            br as f64 / 1000.0
        ));
        for (name, size) in sections(&bytes)? {
            line.push_str(&format!(" {name} {:.1} KB", size as f64 / 1000.0));
        }
    }
    Ok(line)
}

/// (section name, payload size) of a wasm module, largest first.
pub fn sections(bytes: &[u8]) -> anyhow::Result<Vec<(String, usize)>> {
    anyhow::ensure!(bytes.starts_with(b"\0asm"), "not a wasm module");
    let mut at = 8;
    let mut out: Vec<(String, usize)> = Vec::new();
    while at < bytes.len() {
        let id = bytes[at];
        at += 1;
        let (size, used) = leb128(&bytes[at..])?;
        at += used;
        let body = bytes.get(at..at + size).context("truncated section")?;
        let name = match id {
            0 => {
                let (len, used) = leb128(body)?;
                format!(
                    "custom:{}",
                    String::from_utf8_lossy(body.get(used..used + len).unwrap_or_default())
                )
            }
            1 => "type".into(),
            2 => "import".into(),
            3 => "function".into(),
            4 => "table".into(),
            5 => "memory".into(),
            6 => "global".into(),
            7 => "export".into(),
            8 => "start".into(),
            9 => "element".into(),
            10 => "code".into(),
            11 => "data".into(),
            12 => "datacount".into(),
            other => format!("id{other}"),
        };
        out.push((name, size));
        at += size;
    }
    out.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    out.truncate(4);
    Ok(out)
}

fn leb128(bytes: &[u8]) -> anyhow::Result<(usize, usize)> {
    let mut value = 0usize;
    for (i, byte) in bytes.iter().enumerate().take(5) {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    anyhow::bail!("bad LEB128")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_of_a_tiny_module() {
        // header, then a type section of 4 bytes and a custom "name" section of 5 bytes
        let module = [
            0, b'a', b's', b'm', 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 0, 5, 4, b'n', b'a', b'm', b'e',
        ];
        let found = sections(&module).expect("parses");
        assert_eq!(
            found,
            vec![("custom:name".to_owned(), 5), ("type".to_owned(), 4)]
        );
    }
}
