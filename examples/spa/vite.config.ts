import { defineConfig } from "vite";

// Relative asset paths: dist/ works from any folder or static host.
export default defineConfig({ base: "./" });
