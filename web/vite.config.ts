/// <reference types="node" />
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { constants, gzipSync } from "node:zlib";

// Each text file of the bundle also as FILE.gz (Node's zlib, level 9): `ltb serve` sends that to
// a browser that accepts gzip (as nginx's gzip_static does), so nothing is compressed per request.
function precompress(): Plugin {
  const compressible = /\.(html|js|mjs|css|svg|json|txt)$/;
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  return {
    name: "ltb-precompress",
    apply: "build",
    writeBundle(options) {
      const dir = options.dir ?? "dist";
      for (const file of walk(dir).filter((f) => compressible.test(f))) {
        const plain = readFileSync(file);
        const zipped = gzipSync(plain, { level: constants.Z_BEST_COMPRESSION });
        if (zipped.length < plain.length) writeFileSync(`${file}.gz`, zipped);
      }
    },
  };
}

// Relative asset paths: the daemon serves the bundle at / with index.html as the fallback of
// every non-API path, and a reverse proxy may put it under a prefix. Routing is by hash.
export default defineConfig({
  base: "./",
  plugins: [react(), precompress()],
  build: {
    outDir: "dist",
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
});
