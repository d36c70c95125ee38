/**
 * ECR's lifecycle evaluation as the ECR user guide describes it ("How lifecycle policies work"),
 * for testing a policy text against a history of pushes: rules apply in priority order; an image
 * is expired by one rule at most; an image matching the tag filter of a rule cannot be expired by
 * a rule of lower priority; `imageCountMoreThan` keeps the N most recently pushed matches,
 * `sinceImagePushed` expires matches older than N days; a tagPrefixList matches when every prefix
 * matches one of the image's tags.
 */
export interface Image {
  readonly tags: string[];
  /** Days since the image was pushed. */
  readonly ageDays: number;
}

interface Rule {
  rulePriority: number;
  selection: {
    tagStatus: 'tagged' | 'untagged' | 'any';
    tagPrefixList?: string[];
    countType: 'imageCountMoreThan' | 'sinceImagePushed';
    countNumber: number;
  };
}

function matches(rule: Rule, image: Image): boolean {
  const { tagStatus, tagPrefixList } = rule.selection;
  if (tagStatus === 'any') return true;
  if (tagStatus === 'untagged') return image.tags.length === 0;
  if (image.tags.length === 0) return false;
  return (tagPrefixList ?? []).every((prefix) => image.tags.some((tag) => tag.startsWith(prefix)));
}

/** The images the policy expires (a subset of `images`). */
export function expiredBy(policyText: string, images: readonly Image[]): Set<Image> {
  const rules = (JSON.parse(policyText) as { rules: Rule[] }).rules.sort((a, b) => a.rulePriority - b.rulePriority);
  const expired = new Set<Image>();
  const claimed = new Set<Image>();
  for (const rule of rules) {
    const candidates = images.filter((image) => !claimed.has(image) && matches(rule, image));
    const { countType, countNumber } = rule.selection;
    const byAge = [...candidates].sort((a, b) => a.ageDays - b.ageDays);
    const doomed = countType === 'imageCountMoreThan' ? byAge.slice(countNumber) : byAge.filter((i) => i.ageDays > countNumber);
    for (const image of doomed) expired.add(image);
    for (const image of candidates) claimed.add(image);
  }
  return expired;
}
