import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// One build, two pages, served by VetPACS behind the login (src/vetpacs/web/ui.py): the viewer
// (index.html, under /viewer/) and the clinic app (clinic.html, under /app/; its assets load from
// /viewer/assets/). public/login.html is copied as is: the login page needs no bundled asset.
export default defineConfig({
  base: '/viewer/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      input: {
        viewer: fileURLToPath(new URL('./index.html', import.meta.url)),
        clinic: fileURLToPath(new URL('./clinic.html', import.meta.url)),
      },
    },
  },
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  worker: { format: 'es' },
  optimizeDeps: {
    exclude: ['@cornerstonejs/dicom-image-loader'],
    include: ['dicom-parser'],
  },
  server: {
    // `npm run dev` against a local VetPACS on :8042
    proxy: {
      '/dicom-web': 'http://127.0.0.1:8042',
      '/api': 'http://127.0.0.1:8042',
    },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
});
