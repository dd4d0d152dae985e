import { describe, expect, it } from 'vitest';
import { ImageError } from './errors.ts';
import { boxBlur3, labelComponents, locateDigit, locateInk, otsuThreshold } from './ink.ts';
import type { GreyImage } from './decode.ts';

function canvas(width: number, height: number, background: number): GreyImage & { data: Uint8Array } {
  return { data: new Uint8Array(width * height).fill(background), width, height };
}

function fillRect(image: GreyImage, left: number, top: number, w: number, h: number, value: number): void {
  for (let y = top; y < top + h; y++) for (let x = left; x < left + w; x++) image.data[y * image.width + x] = value;
}

describe('otsuThreshold', () => {
  it('splits a two-peak histogram between the peaks', () => {
    const histogram = new Uint32Array(256);
    histogram[20] = 900;
    histogram[200] = 100;
    const t = otsuThreshold(histogram);
    expect(t).toBeGreaterThan(20);
    expect(t).toBeLessThanOrEqual(200);
  });
});

describe('boxBlur3', () => {
  it('keeps a flat image flat and spreads a dot over 3x3', () => {
    const flat = canvas(5, 5, 100);
    expect([...boxBlur3(flat)].every((v) => v === 100)).toBe(true);
    const dot = canvas(5, 5, 0);
    dot.data[12] = 90;
    const blurred = boxBlur3(dot);
    expect(blurred[12]).toBe(10);
    expect(blurred[6]).toBe(10);
    expect(blurred[0]).toBe(0);
  });
});

describe('labelComponents', () => {
  it('joins diagonal neighbours and separates distant marks', () => {
    // 1 . . 1
    // . 1 . 1
    // . . . .
    const mask = Uint8Array.from([1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0]);
    const { labels, areas } = labelComponents(mask, 4, 3);
    expect(areas.slice(1).sort()).toEqual([2, 2]);
    expect(labels[0]).toBe(labels[5]);
    expect(labels[3]).toBe(labels[7]);
    expect(labels[0]).not.toBe(labels[3]);
  });
});

describe('locateInk', () => {
  it('finds dark ink on light paper and returns it as positive strength', () => {
    const image = canvas(100, 80, 230);
    fillRect(image, 30, 20, 10, 40, 20);
    const ink = locateInk(image, 32);
    expect(ink.polarity).toBe('dark-on-light');
    expect(ink.background).toBe(230);
    expect(ink.box).toEqual({ left: 30, top: 20, width: 10, height: 40 });
    expect(Math.max(...ink.ink)).toBe(255);
  });

  it('finds light ink on a dark background', () => {
    const image = canvas(100, 80, 10);
    fillRect(image, 60, 10, 20, 30, 200);
    const ink = locateInk(image, 32);
    expect(ink.polarity).toBe('light-on-dark');
    expect(ink.box).toEqual({ left: 60, top: 10, width: 20, height: 30 });
  });

  it('judges polarity by the ink, not by the absolute grey level of the paper', () => {
    const image = canvas(100, 80, 110); // paper photographed in dim light
    fillRect(image, 40, 20, 8, 40, 30);
    expect(locateInk(image, 32).polarity).toBe('dark-on-light');
  });

  it('follows a shadow across the page instead of calling it ink', () => {
    const image = canvas(200, 160, 0);
    for (let y = 0; y < 160; y++) for (let x = 0; x < 200; x++) image.data[y * 200 + x] = Math.round(235 - 0.6 * x - 0.3 * y);
    fillRect(image, 150, 100, 12, 40, 20); // in the darkest corner
    const ink = locateInk(image, 32);
    expect(ink.polarity).toBe('dark-on-light');
    expect(ink.box).toEqual({ left: 150, top: 100, width: 12, height: 40 });
  });

  it('ignores specks far smaller than the digit', () => {
    const image = canvas(200, 200, 255);
    fillRect(image, 80, 50, 20, 100, 0);
    fillRect(image, 5, 5, 2, 2, 0);
    fillRect(image, 190, 180, 3, 3, 0);
    expect(locateInk(image, 32).box).toEqual({ left: 80, top: 50, width: 20, height: 100 });
  });

  it('keeps the faint anti-aliased edge of a stroke in the box', () => {
    const image = canvas(60, 60, 255);
    fillRect(image, 20, 10, 10, 40, 0);
    fillRect(image, 19, 10, 1, 40, 200); // faint edge, below the stroke threshold
    const ink = locateInk(image, 32);
    expect(ink.box.left).toBe(19);
    expect(ink.ink[0]).toBeGreaterThan(0);
  });

  it.each([
    ['an empty page', () => canvas(50, 50, 240)],
    ['an empty page in a strong shadow gradient', () => {
      const image = canvas(100, 80, 0);
      for (let y = 0; y < 80; y++) for (let x = 0; x < 100; x++) image.data[y * 100 + x] = 240 - x - y;
      return image;
    }],
    ['faint texture only', () => {
      const image = canvas(50, 50, 200);
      for (let i = 0; i < image.data.length; i++) image.data[i] = 200 + ((i * 7919) % 21) - 10;
      return image;
    }],
    ['a single speck', () => {
      const image = canvas(50, 50, 255);
      fillRect(image, 20, 20, 2, 2, 0);
      return image;
    }],
  ])('reports %s as IMAGE_BLANK', (_, make) => {
    let thrown: unknown;
    try {
      locateInk(make(), 32);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ImageError);
    expect((thrown as ImageError).code).toBe('IMAGE_BLANK');
  });
});

describe('locateDigit', () => {
  it('finds the digit on a sheet of paper lying on a dark desk, not the sheet', () => {
    const image = canvas(300, 240, 50);
    fillRect(image, 60, 40, 180, 160, 225); // the sheet
    fillRect(image, 140, 80, 10, 80, 30); // the digit on it
    const sheet = locateInk(image, 32);
    expect(sheet.polarity).toBe('light-on-dark');
    const digit = locateDigit(image, 32);
    expect(digit.polarity).toBe('dark-on-light');
    expect(digit.box).toEqual({ left: 140, top: 80, width: 10, height: 80 });
  });

  it('does not mistake a bold light digit with a small loop for a sheet', () => {
    const image = canvas(200, 200, 0);
    fillRect(image, 50, 25, 100, 150, 250);
    fillRect(image, 95, 50, 10, 10, 0); // a small loop
    expect(locateDigit(image, 32)).toEqual(locateInk(image, 32));
    const solid = canvas(200, 200, 0);
    fillRect(solid, 50, 25, 100, 150, 250);
    expect(locateDigit(solid, 32)).toEqual(locateInk(solid, 32));
  });

  it('does not mistake a bold light 0 for a sheet with its hole written on it', () => {
    const image = canvas(120, 120, 0);
    for (let y = 0; y < 120; y++) {
      for (let x = 0; x < 120; x++) {
        const r = Math.hypot((x - 60) / 40, (y - 60) / 55);
        if (r <= 1 && r >= 0.45) image.data[y * 120 + x] = 255;
      }
    }
    expect(locateDigit(image, 32)).toEqual(locateInk(image, 32));
  });

  it('leaves an ordinary digit alone', () => {
    const image = canvas(100, 80, 230);
    fillRect(image, 30, 20, 10, 40, 20);
    expect(locateDigit(image, 32)).toEqual(locateInk(image, 32));
  });
});
