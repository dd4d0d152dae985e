/**
 * Safe promotion (AUTO_PROMOTE): whether a newly trained version replaces the
 * active one, judged on the same images for both, computed when the training
 * ends (held-back feedback grows between trainings, so the active version's
 * old report is not evidence).
 *
 * The rule:
 * - no active version: promote (something must serve);
 * - held-back feedback exists: promote when the candidate gets strictly more
 *   of it right than the active version AND is not worse on the MNIST test
 *   set, where "not worse" allows `mnistTolerance` of the test set's size in
 *   extra errors (default 0.0005: 5 of 10,000 images). Retraining the same
 *   recipe moves a handful of MNIST test images either way (at 99.7% the
 *   binomial standard error is ~5.5 images of 10,000), and learning a new
 *   style from feedback may cost one or two of MNIST's ambiguous digits: a
 *   version measurably better on what users corrected should not be refused
 *   over noise. The tolerance is rounded down to whole images;
 * - no held-back feedback: nothing says the candidate is better, so the MNIST
 *   test rule is strict: no more errors than the active version (the rule
 *   before feedback existed).
 */

/** What both versions are judged on. */
export interface PromotionScores {
  mnist: { count: number; errors: number };
  /** Held-back feedback; null when there is none. */
  feedback: { count: number; correct: number } | null;
}

export interface PromotionInput {
  candidate: PromotionScores;
  /** The active version, scored now on the same images; null when none is active. */
  active: { ref: string; scores: PromotionScores } | null;
  /** Extra MNIST test errors allowed, as a fraction of the test set, when feedback says the candidate is better. */
  mnistTolerance: number;
}

export interface PromotionDecision {
  promoted: boolean;
  /** One sentence each, with the numbers. */
  reasons: string[];
}

const percent = (part: number, whole: number) => `${((100 * part) / Math.max(1, whole)).toFixed(2)}%`;
const count = (n: number) => n.toLocaleString('en-US');

export function decidePromotion(input: PromotionInput): PromotionDecision {
  const { candidate, active } = input;
  if (!active) return { promoted: true, reasons: ['no version was active: the new version serves'] };
  const reasons: string[] = [];
  const feedback = candidate.feedback && active.scores.feedback ? { candidate: candidate.feedback, active: active.scores.feedback } : null;

  const allowedExtra = feedback ? Math.floor(input.mnistTolerance * candidate.mnist.count + 1e-9) : 0;
  const mnistOk = candidate.mnist.errors <= active.scores.mnist.errors + allowedExtra;
  const errors = `${count(candidate.mnist.errors)} errors of ${count(candidate.mnist.count)} (${percent(candidate.mnist.errors, candidate.mnist.count)}) vs ${count(active.scores.mnist.errors)} for ${active.ref}`;
  const rule = feedback ? `at most ${allowedExtra} more allowed (PROMOTE_MNIST_TOLERANCE ${input.mnistTolerance})` : 'no more allowed without held-back feedback to show an improvement';
  reasons.push(`MNIST test: ${errors}; ${rule}: ${mnistOk ? 'not worse' : 'worse'}`);

  let feedbackOk = true;
  if (feedback) {
    feedbackOk = feedback.candidate.correct > feedback.active.correct;
    reasons.push(
      `held-back feedback: ${count(feedback.candidate.correct)} of ${count(feedback.candidate.count)} right vs ${count(feedback.active.correct)} for ${active.ref}: ${feedbackOk ? 'better' : 'not better (it must get more of them right)'}`,
    );
  } else {
    reasons.push('no held-back feedback to judge on: judged on the MNIST test set alone');
  }
  const promoted = mnistOk && feedbackOk;
  reasons.push(promoted ? `promoted over ${active.ref}` : `not promoted: ${active.ref} stays active`);
  return { promoted, reasons };
}
