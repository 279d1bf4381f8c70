/// <reference types="vitest/config" />
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API serves dist/index.html at /, /chat and /chat/<id>, and dist/assets/* at /assets/*.
// `npm run dev` proxies the HTTP API so the page can be developed against a running `make dev`.
const api = process.env.SANDCHAT_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/",
  plugins: [react(), tailwindcss()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: {
      "/threads": api,
      "/config": api,
      "/ws-ticket": api,
      "/health": api,
      "/me": api,
    },
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
});
