/**
 * Code 128 (ISO/IEC 15417) for worklist labels: the accession number as bars, drawn as inline SVG.
 * Code set B for text; runs of 4 or more digits switch to code set C (two digits per symbol).
 */

/** Bar and space widths (modules) of symbol values 0..106 (106 is the stop, 13 modules). */
export const PATTERNS = [
  '212222', '222122', '222221', '121223', '121322', '131222', '122213', '122312', '132212', '221213',
  '221312', '231212', '112232', '122132', '122231', '113222', '123122', '123221', '223211', '221132',
  '221231', '213212', '223112', '312131', '311222', '321122', '321221', '312212', '322112', '322211',
  '212123', '212321', '232121', '111323', '131123', '131321', '112313', '132113', '132311', '211313',
  '231113', '231311', '112133', '112331', '132131', '113123', '113321', '133121', '313121', '211331',
  '231131', '213113', '213311', '213131', '311123', '311321', '331121', '312113', '312311', '332111',
  '314111', '221411', '431111', '111224', '111422', '121124', '121421', '141122', '141221', '112214',
  '112412', '122114', '122411', '142112', '142211', '241211', '221114', '413111', '241112', '134111',
  '111242', '121142', '121241', '114212', '124112', '124211', '411212', '421112', '421211', '212141',
  '214121', '412121', '111143', '111341', '131141', '114113', '114311', '411113', '411311', '113141',
  '114131', '311141', '411131', '211412', '211214', '211232', '2331112',
];

export const START_B = 104;
export const START_C = 105;
export const CODE_C = 99;
export const CODE_B = 100;
export const STOP = 106;

/** The symbol values for `text` (start, data, checksum, stop). Throws on characters outside ASCII 32-126. */
export function code128Values(text: string): number[] {
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if (c < 32 || c > 126) throw new Error(`Code 128 B cannot encode ${JSON.stringify(ch)}`);
  }
  if (!text) throw new Error('nothing to encode');
  const values: number[] = [];
  let set: 'B' | 'C' | undefined;
  let i = 0;
  while (i < text.length) {
    let run = 0;
    while (i + run < text.length && /\d/.test(text[i + run])) run++;
    const useC = run >= 4 || (run === text.length && run >= 2 && run % 2 === 0);
    if (useC) {
      if (run % 2 === 1) {
        // an odd run: its first digit in set B, the even rest in set C
        if (set !== 'B') {
          values.push(set === undefined ? START_B : CODE_B);
          set = 'B';
        }
        values.push(text.charCodeAt(i) - 32);
        i++;
        run--;
      }
      values.push(set === undefined ? START_C : CODE_C);
      set = 'C';
      for (let k = 0; k < run; k += 2) values.push(Number(text.slice(i + k, i + k + 2)));
      i += run;
    } else {
      if (set !== 'B') {
        values.push(set === undefined ? START_B : CODE_B);
        set = 'B';
      }
      const end = run > 0 ? i + run : i + 1;
      for (; i < end; i++) values.push(text.charCodeAt(i) - 32);
    }
  }
  let sum = values[0];
  for (let k = 1; k < values.length; k++) sum += values[k] * k;
  values.push(sum % 103, STOP);
  return values;
}

/** Alternating bar/space widths in modules, starting with a bar (quiet zones not included). */
export function code128Widths(text: string): number[] {
  return code128Values(text).flatMap((v) => [...PATTERNS[v]].map(Number));
}

/** An SVG document fragment: black bars, 10-module quiet zones, `height` in modules. */
export function code128Svg(text: string, height = 40, module = 2): string {
  const widths = code128Widths(text);
  const quiet = 10;
  let x = quiet;
  const rects: string[] = [];
  widths.forEach((w, k) => {
    if (k % 2 === 0) rects.push(`<rect x="${x * module}" y="0" width="${w * module}" height="${height}"/>`);
    x += w;
  });
  const total = (x + quiet) * module;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="${height}" viewBox="0 0 ${total} ${height}" role="img" aria-label="Barcode ${text.replace(/[<>&"]/g, '')}"><rect width="${total}" height="${height}" fill="#fff"/><g fill="#000">${rects.join('')}</g></svg>`;
}
