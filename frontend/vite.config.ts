import { defineConfig } from 'vite';

// The viewer is served by VetPACS under /viewer/ (src/vetpacs/web/ui.py), behind the login.
// public/login.html is copied as is: the login page needs no bundled asset.
export default defineConfig({
  base: '/viewer/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4000,
  },
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
