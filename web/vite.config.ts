import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Relative asset paths: the daemon serves the bundle at / with index.html as the fallback of
// every non-API path, and a reverse proxy may put it under a prefix. Routing is by hash.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "dist",
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
});
