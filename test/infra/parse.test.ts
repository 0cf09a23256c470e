/** Every Bicep file under infra/ parses cleanly (tree-sitter-bicep; there is no Bicep CLI here). */
import { bicepFilesUnder, infraFiles, syntaxProblems } from './bicep';

/** The only statements blanked out before parsing, per file (see GRAMMAR_GAPS in bicep.ts). */
const EXPECTED_BLANKED: Readonly<Record<string, readonly string[]>> = {
  'infra/app-registration.bicep': ['extension microsoftGraphV1'],
};

describe('infra/*.bicep', () => {
  it('finds the templates', () => {
    expect(bicepFilesUnder().length).toBeGreaterThanOrEqual(8);
  });

  it('parse with no ERROR or MISSING node', async () => {
    const problems = [...(await infraFiles()).values()].flatMap(syntaxProblems);
    expect(problems).toEqual([]);
  });

  it('blank out only the known grammar gaps', async () => {
    const blanked = Object.fromEntries(
      [...(await infraFiles()).values()].filter((file) => file.blanked.length > 0).map((file) => [file.path, file.blanked]),
    );
    expect(blanked).toEqual(EXPECTED_BLANKED);
  });
});
