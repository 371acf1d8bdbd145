import { describe, expect, it } from 'vitest';
import { chooseBackend, isSoftwareRenderer } from '../src/render-backend';

describe('render backend', () => {
  it('recognises software WebGL', () => {
    expect(isSoftwareRenderer('ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)')).toBe(true);
    expect(isSoftwareRenderer('llvmpipe (LLVM 15.0.6, 256 bits)')).toBe(true);
    expect(isSoftwareRenderer('ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0, D3D11)')).toBe(false);
  });
  it('the URL parameter wins, else the renderer decides', () => {
    expect(chooseBackend('gpu', 'SwiftShader')).toBe('gpu');
    expect(chooseBackend('cpu', 'Apple M2')).toBe('cpu');
    expect(chooseBackend(null, 'Apple M2')).toBe('gpu');
    expect(chooseBackend(null, 'llvmpipe')).toBe('cpu');
    expect(chooseBackend(null, '')).toBe('cpu');
    expect(chooseBackend('bogus', 'Mesa Intel(R) UHD Graphics 620')).toBe('gpu');
  });
});
