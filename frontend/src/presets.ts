/**
 * Window presets per modality and body region.
 *
 * CT presets are absolute, in Hounsfield units. Projection radiographs (DX, CR, IO, MG, XA, RF) and
 * ultrasound have no absolute scale: their presets are relative to the header's window (VOI LUT or
 * Window Center/Width, what the image opens with): the width is a fraction of the header's width and
 * the centre moves by a fraction of that width, towards the dense end (bone, MONOCHROME2 bright)
 * or the lucent end (lung). The region's presets come first, chosen from Body Part Examined
 * (0018,0015; the veterinary terms of DOMAIN.md and the human defined terms modalities send).
 */
export interface Preset {
  name: string;
  width: number; // HU, or a fraction of the header's width when relative
  center: number; // HU, or an offset in header widths when relative
  relative?: boolean;
}

export type Region = 'thorax' | 'abdomen' | 'bone' | 'head' | '';

const CT: Preset[] = [
  { name: 'Soft tissue', width: 400, center: 40 },
  { name: 'Abdomen', width: 350, center: 50 },
  { name: 'Thorax', width: 350, center: 40 },
  { name: 'Lung', width: 1500, center: -600 },
  { name: 'Bone', width: 2000, center: 500 },
  { name: 'Brain', width: 80, center: 40 },
];

const RADIOGRAPH: Preset[] = [
  { name: 'Soft tissue', width: 0.6, center: 0, relative: true },
  { name: 'Abdomen', width: 0.5, center: 0.05, relative: true },
  { name: 'Thorax', width: 0.9, center: -0.05, relative: true },
  { name: 'Lung', width: 0.7, center: -0.2, relative: true },
  { name: 'Bone', width: 0.7, center: 0.2, relative: true },
];

const RADIOGRAPHY = new Set(['DX', 'CR', 'IO', 'MG', 'XA', 'RF', 'PX']);

/** Which presets a region puts first. */
const FIRST: Record<Exclude<Region, ''>, string[]> = {
  thorax: ['Thorax', 'Lung', 'Soft tissue'],
  abdomen: ['Abdomen', 'Soft tissue'],
  bone: ['Bone', 'Soft tissue'],
  head: ['Brain', 'Bone', 'Soft tissue'],
};

const REGION_TERMS: [Exclude<Region, ''>, RegExp][] = [
  ['thorax', /^(CHEST|THORAX|HEART|LUNG|CHESTABDOMEN|CERVICOTHORACIC)$/],
  ['abdomen', /^(ABDOMEN|ABDOMENPELVIS|LIVER|KIDNEY|BLADDER|STOMACH|BOWEL)$/],
  ['head', /^(HEAD|SKULL|BRAIN|NOSE|NASALCAVITY|EAR|JAW|TMJ|MAXILLA|MANDIBLE|TOOTH|TEETH)$/],
  [
    'bone',
    /^(PELVIS|HIP|SPINE|[CTL]SPINE|EXTREMITY|LEG|ARM|FORELIMB|HINDLIMB|LIMB|ELBOW|SHOULDER|STIFLE|KNEE|CARPUS|TARSUS|HOCK|FOOT|MANUS|PES|HOOF|FETLOCK|FEMUR|TIBIA|HUMERUS|RADIUS|ULNA|WRIST|ANKLE|HAND|TAIL|SKELETON)$/,
  ],
];

/** The region of Body Part Examined, '' when unknown. */
export function regionOf(bodyPart: string): Region {
  const part = bodyPart.trim().toUpperCase().replace(/[\s_-]+/g, '');
  for (const [region, re] of REGION_TERMS) if (re.test(part)) return region;
  return '';
}

/** The presets of a modality, those of the body region first. */
export function presetsFor(modality: string, bodyPart = ''): Preset[] {
  const all = modality === 'CT' ? CT : RADIOGRAPHY.has(modality) ? RADIOGRAPH : [];
  const region = regionOf(bodyPart);
  if (!region) return all;
  const first = FIRST[region];
  const rank = (p: Preset): number => {
    const i = first.indexOf(p.name);
    return i < 0 ? first.length : i;
  };
  return [...all].sort((a, b) => rank(a) - rank(b));
}

/** The window (width, centre) a preset gives, relative ones from the header's window. */
export function presetWindow(preset: Preset, header?: { lower: number; upper: number }): { width: number; center: number } {
  if (!preset.relative) return { width: preset.width, center: preset.center };
  if (!header) throw new Error(`the ${preset.name} preset needs the header's window`);
  const w = header.upper - header.lower;
  return { width: w * preset.width, center: (header.upper + header.lower) / 2 + preset.center * w };
}

/** The menu label: "Bone (2000/500)" for HU presets, "Bone (relative)" for radiographs. */
export function presetLabel(p: Preset): string {
  return p.relative ? `${p.name} (relative)` : `${p.name} (${p.width}/${p.center})`;
}
