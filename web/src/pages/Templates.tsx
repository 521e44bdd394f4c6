import { Fragment, useState } from "react";
import { fromBase64, ltb, ltbJson, saveBytes, toBase64, type FileArg, type InEntry } from "../api";
import { href, useMe } from "../app";
import type { Template, TemplateVersion } from "../types";
import { ActionButton, ErrorBox, Section, fmtTime, useLoad } from "../util";

interface Picked {
  file: File;
  path: string; // the path in the bundle, relative to the topology's directory
}

const isTopology = (name: string) => /\.ya?ml$/i.test(name);
const isTar = (name: string) => /\.tar$/i.test(name);

// Where the topology refers to a file of this name: `startup-config: frr-ospf/r1.conf` for r1.conf.
function referencedPath(yaml: string, name: string): string | null {
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = yaml.match(new RegExp(`(?:^|[\\s"':\\[,])((?:\\./)?(?:[\\w.@+-]+/)*${esc})(?=$|[\\s"',:\\]])`, "m"));
  return m ? m[1].replace(/^\.\//, "") : null;
}

function relPath(f: File): string {
  // A folder upload: drop the chosen folder's own name.
  const r = (f as File & { webkitRelativePath?: string }).webkitRelativePath;
  return r ? r.split("/").slice(1).join("/") : f.name;
}

function Upload({ onDone }: { onDone: () => void }) {
  const [picked, setPicked] = useState<Picked[]>([]);
  const [main, setMain] = useState("");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [shared, setShared] = useState(false);
  const [error, setError] = useState<unknown>();
  const [result, setResult] = useState("");

  const pick = async (files: FileList | null) => {
    if (!files) return;
    const list = Array.from(files);
    const tops = list.filter((f) => isTopology(f.name));
    const mainFile = tops.find((f) => !relPath(f).includes("/")) ?? tops[0] ?? list.find((f) => isTar(f.name));
    let text = "";
    if (mainFile && isTopology(mainFile.name)) text = await mainFile.text();
    const out = list.map((f) => ({
      file: f,
      path: f === mainFile ? relPath(f) : referencedPath(text, relPath(f)) ?? referencedPath(text, f.name) ?? relPath(f),
    }));
    setPicked(out);
    setMain(mainFile ? relPath(mainFile) : "");
    setResult("");
    setError(undefined);
  };

  const submit = async () => {
    const mainPicked = picked.find((p) => p.path === main);
    if (!mainPicked) throw new Error("Choose the topology file (.yaml) or a template tar.");
    const entries: InEntry[] = [];
    const tar = isTar(mainPicked.file.name);
    for (const p of tar ? [mainPicked] : picked) {
      entries.push({ path: p.path, mode: 0o644, data: toBase64(await p.file.arrayBuffer()) });
    }
    const argv = tar ? ["template", "import"] : ["template", "add"];
    if (name) argv.push("--name", name);
    if (!tar && description) argv.push("--description", description);
    if (!tar && shared) argv.push("--shared");
    argv.push(main);
    const files: FileArg[] = [{ index: argv.length - 1, direction: "in", main, entries }];
    const r = await ltb(argv, files);
    if (tar && shared) {
      const n = name || r.stdout.match(/template (\S+?)@/)?.[1];
      if (n) await ltb(["template", "share", n]);
    }
    setResult(r.stdout.trim() || "added");
    setPicked([]);
  };

  return (
    <div className="upload" data-testid="template-upload">
      <div className="row">
        <label>
          Files: the topology (.yaml) and the files it references, or a template .tar
          <input type="file" multiple onChange={(e) => pick(e.target.files)} data-testid="upload-files" />
        </label>
        <label>
          …or a folder
          <input type="file" {...({ webkitdirectory: "", directory: "" } as Record<string, string>)} onChange={(e) => pick(e.target.files)} data-testid="upload-folder" />
        </label>
      </div>
      {picked.length > 0 && (
        <table className="grid small" data-testid="upload-files-table">
          <thead>
            <tr><th>Main</th><th>File</th><th>Path in the template</th><th className="num">Size</th></tr>
          </thead>
          <tbody>
            {picked.map((p, i) => (
              <tr key={i}>
                <td><input type="radio" name="main" checked={main === p.path} onChange={() => setMain(p.path)} /></td>
                <td>{p.file.name}</td>
                <td>
                  <input
                    className="mono"
                    value={p.path}
                    data-testid={`upload-path-${i}`}
                    onChange={(e) => {
                      const next = [...picked];
                      if (main === p.path) setMain(e.target.value);
                      next[i] = { ...p, path: e.target.value };
                      setPicked(next);
                    }}
                  />
                </td>
                <td className="num">{p.file.size}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="row">
        <label>
          Name
          <input value={name} placeholder="the topology's name" onChange={(e) => setName(e.target.value)} data-testid="upload-name" />
        </label>
        <label className="grow">
          Description
          <input value={description} onChange={(e) => setDescription(e.target.value)} data-testid="upload-description" />
        </label>
        <label className="inline">
          <input type="checkbox" checked={shared} onChange={(e) => setShared(e.target.checked)} data-testid="upload-shared" /> shared with every user
        </label>
        <ActionButton className="primary" testid="upload-submit" disabled={!picked.length} run={submit} onError={setError} onDone={onDone}>
          Upload
        </ActionButton>
      </div>
      <ErrorBox error={error} testid="upload-error" />
      {result && <div className="notice" data-testid="upload-result">{result}</div>}
    </div>
  );
}

function Versions({ t, onError, onChange }: { t: Template; onError: (e: unknown) => void; onChange: () => void }) {
  const v = useLoad(() => ltbJson<TemplateVersion[]>(["template", "versions", t.name]), [t.name, t.latest]);
  return (
    <table className="grid small" data-testid={`versions-${t.name}`}>
      <tbody>
        {v.data?.map((x) => (
          <tr key={x.version}>
            <td>@{x.version}</td>
            <td>{fmtTime(x.created)}</td>
            <td>{x.created_by}</td>
            <td className="mono">{x.digest.slice(0, 12)}</td>
            <td>{x.description}</td>
            <td className="actions">
              <ActionButton
                className="tiny"
                run={async () => {
                  const out = `${t.name}-${x.version}.tar`;
                  const argv = ["template", "export", `${t.name}@${x.version}`, "-o", out];
                  const r = await ltb(argv, [{ index: argv.length - 1, direction: "out" }]);
                  const f = r.files[0];
                  if (!f) throw new Error("the daemon sent no file back");
                  saveBytes(out, fromBase64(f.data), "application/x-tar");
                }}
                onError={onError}
              >
                export
              </ActionButton>
              <ActionButton className="tiny danger" confirm={`Remove ${t.name}@${x.version}?`} run={() => ltb(["template", "rm", `${t.name}@${x.version}`])} onError={onError} onDone={onChange}>
                remove
              </ActionButton>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Deploy({ t, onError }: { t: Template; onError: (e: unknown) => void }) {
  const [lab, setLab] = useState(t.name);
  const [version, setVersion] = useState("");
  const [out, setOut] = useState("");
  return (
    <span className="deploy">
      <input size={12} value={lab} onChange={(e) => setLab(e.target.value)} data-testid={`deploy-lab-${t.name}`} title="Lab name" />
      <input size={3} value={version} placeholder={`@${t.latest}`} onChange={(e) => setVersion(e.target.value.replace(/\D/g, ""))} title="Version (default: newest)" />
      <ActionButton
        className="tiny primary"
        testid={`deploy-${t.name}`}
        run={async () => {
          setOut("");
          const r = await ltb(["up", "--template", `${t.name}@${version || t.latest}`, "--lab", lab]);
          setOut(r.stdout.trim().split("\n").pop() ?? "");
          window.location.hash = href("labs", lab);
        }}
        onError={onError}
      >
        deploy
      </ActionButton>
      {out && <span className="muted small">{out}</span>}
    </span>
  );
}

export function Templates() {
  const me = useMe();
  const list = useLoad(() => ltbJson<Template[]>(["template", "list"]), []);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  return (
    <div data-testid="templates-page">
      <Section title="Upload a template">
        <Upload onDone={() => list.reload()} />
      </Section>
      <Section title="Templates" right={<button onClick={() => list.reload()}>Refresh</button>}>
        <ErrorBox error={list.error} />
        <ErrorBox error={error} testid="template-error" />
        <table className="grid" data-testid="templates-table">
          <thead>
            <tr><th>Name</th><th>Owner</th><th>Visibility</th><th className="num">Newest</th><th className="num">Versions</th><th>Description</th><th>Created</th><th>Deploy as lab</th></tr>
          </thead>
          <tbody>
            {list.data?.map((t) => (
              <Fragment key={t.name}>
                <tr data-testid={`template-row-${t.name}`}>
                  <td>
                    <button className="tiny" onClick={() => setOpen(open === t.name ? null : t.name)} title="versions">{open === t.name ? "▾" : "▸"}</button> <b>{t.name}</b>
                  </td>
                  <td>{t.owner}</td>
                  <td>
                    {t.shared ? "shared" : "private"}{" "}
                    {(me.admin || t.owner === me.user) && (
                      <ActionButton className="tiny" testid={`share-${t.name}`} run={() => ltb(["template", "share", t.name, ...(t.shared ? ["--private"] : [])])} onError={setError} onDone={() => list.reload()}>
                        {t.shared ? "make private" : "share"}
                      </ActionButton>
                    )}
                  </td>
                  <td className="num">@{t.latest}</td>
                  <td className="num">{t.versions}</td>
                  <td>{t.description}</td>
                  <td>{fmtTime(t.created)}</td>
                  <td><Deploy t={t} onError={setError} /></td>
                </tr>
                {open === t.name && (
                  <tr>
                    <td colSpan={8}><Versions t={t} onError={setError} onChange={() => list.reload()} /></td>
                  </tr>
                )}
              </Fragment>
            ))}
            {list.data?.length === 0 && <tr><td colSpan={8} className="muted">No templates yet.</td></tr>}
          </tbody>
        </table>
      </Section>
    </div>
  );
}
