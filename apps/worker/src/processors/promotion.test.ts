import { describe, expect, it } from 'vitest';
import { decidePromotion, type PromotionScores } from './promotion.ts';

const TOLERANCE = 0.0005;
const scores = (mnistErrors: number, feedbackCorrect: number | null, feedbackCount = 40): PromotionScores => ({
  mnist: { count: 10_000, errors: mnistErrors },
  feedback: feedbackCorrect === null ? null : { count: feedbackCount, correct: feedbackCorrect },
});
const judge = (candidate: PromotionScores, active: PromotionScores | null) =>
  decidePromotion({ candidate, active: active && { ref: 'digitnet@v1', scores: active }, mnistTolerance: TOLERANCE });

describe('decidePromotion', () => {
  it('promotes the first version of a model', () => {
    expect(judge(scores(500, null), null)).toEqual({ promoted: true, reasons: [expect.stringContaining('no version was active')] });
  });

  it('promotes a version better on held-back feedback and within the MNIST tolerance (5 of 10,000 images)', () => {
    const decision = judge(scores(37, 30), scores(32, 10));
    expect(decision.promoted).toBe(true);
    expect(decision.reasons.join('\n')).toContain('MNIST test: 37 errors of 10,000 (0.37%) vs 32 for digitnet@v1; at most 5 more allowed');
    expect(decision.reasons.join('\n')).toContain('held-back feedback: 30 of 40 right vs 10 for digitnet@v1: better');
  });

  it('refuses one more MNIST error than the tolerance, however much better on feedback, and says so', () => {
    const decision = judge(scores(38, 40), scores(32, 10));
    expect(decision.promoted).toBe(false);
    expect(decision.reasons[0]).toMatch(/38 errors .* vs 32 .*: worse$/);
    expect(decision.reasons.at(-1)).toBe('not promoted: digitnet@v1 stays active');
  });

  it('refuses a version that is not strictly better on held-back feedback', () => {
    for (const correct of [10, 9]) {
      const decision = judge(scores(20, correct), scores(32, 10));
      expect(decision.promoted).toBe(false);
      expect(decision.reasons[1]).toContain('not better');
    }
  });

  it('without held-back feedback, judges on MNIST alone with no tolerance', () => {
    expect(judge(scores(32, null), scores(32, null)).promoted).toBe(true);
    const worse = judge(scores(33, null), scores(32, null));
    expect(worse.promoted).toBe(false);
    expect(worse.reasons).toContain('no held-back feedback to judge on: judged on the MNIST test set alone');
  });
});
