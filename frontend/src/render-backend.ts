/**
 * Which Cornerstone drawing path to use. On a machine without a GPU, Chromium's WebGL is a software
 * rasteriser (SwiftShader, llvmpipe): measured here (benchmarks/viewer_speed.py), Cornerstone's WebGL
 * path then needs about 1 s for the first image of a 2,500 x 3,000 radiograph and scrolls a 512 x 512
 * CT at about 22 frames/s, while its CPU path shows the radiograph in about 0.5 s and scrolls at 60
 * frames/s. So: WebGL on real GPUs, the CPU path on software WebGL or none; `?render=cpu|gpu` forces
 * one (for comparison and support).
 */

const SOFTWARE_RENDERERS = /swiftshader|llvmpipe|softpipe|software|microsoft basic render/i;

/** True when the renderer string names a software rasteriser. */
export function isSoftwareRenderer(renderer: string): boolean {
  return SOFTWARE_RENDERERS.test(renderer);
}

/** The choice: 'cpu' or 'gpu', from the URL parameter, else from the WebGL renderer ('' = no WebGL). */
export function chooseBackend(param: string | null, renderer: string | undefined): 'cpu' | 'gpu' {
  if (param === 'cpu' || param === 'gpu') return param;
  if (renderer === undefined || renderer === '') return 'cpu';
  return isSoftwareRenderer(renderer) ? 'cpu' : 'gpu';
}

/** The WebGL renderer string of this browser ('' when WebGL is unavailable). */
export function webglRenderer(): string {
  try {
    const canvas = document.createElement('canvas');
    const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
    if (!gl) return '';
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '');
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return renderer || 'unknown';
  } catch {
    return '';
  }
}
