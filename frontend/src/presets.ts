/**
 * Window presets per modality (width/centre). CT presets are in Hounsfield units; projection
 * radiographs and ultrasound have no absolute scale, so they keep the header's window (VOI LUT or
 * Window Center/Width) and the "default" entry returns to it.
 */
export interface Preset {
  name: string;
  width: number;
  center: number;
}

const CT: Preset[] = [
  { name: 'Soft tissue', width: 400, center: 40 },
  { name: 'Abdomen', width: 350, center: 50 },
  { name: 'Thorax', width: 350, center: 40 },
  { name: 'Lung', width: 1500, center: -600 },
  { name: 'Bone', width: 2000, center: 500 },
  { name: 'Brain', width: 80, center: 40 },
];

const MR: Preset[] = [];

export function presetsFor(modality: string): Preset[] {
  if (modality === 'CT') return CT;
  if (modality === 'MR') return MR;
  return [];
}
