using GenerateCT.Imaging.Phantoms.Findings;
using GenerateCT.Imaging.Reports;

namespace GenerateCT.Imaging.Phantoms;

/// <summary>Writes a phantom's report text for its set of findings; deterministic in the random source.</summary>
public static class PhantomReportWriter
{
    /// <summary>
    /// A report without a volume, for text-only uses (de-identification evaluation sets): findings (each with
    /// probability 0.3), age, sex and, with <paramref name="plantPhi"/>, invented identifiers, all from the seed.
    /// </summary>
    public static (PhantomReport Report, PlantedPhi? Phi, IReadOnlyList<Finding> Findings) WriteSynthetic(int seed, bool plantPhi)
    {
        var rng = new Random(unchecked((seed * 65537) + 11));
        var findings = Enum.GetValues<FindingKind>().Where(_ => rng.NextDouble() < 0.3).Select(k => Finding.Sample(k, rng)).ToList();
        int age = 35 + rng.Next(51);
        var sex = rng.Next(2) == 0 ? PatientSex.Male : PatientSex.Female;
        var phi = plantPhi ? PlantedPhi.Sample(rng, sex, age) : null;
        return (Write(findings, age, sex, phi, rng), phi, findings);
    }

    public static PhantomReport Write(IReadOnlyList<Finding> findings, int age, PatientSex sex, PlantedPhi? phi, Random rng)
    {
        var text = new SpanRecorder();
        if (phi is not null)
        {
            text.Append("Patient: ").Phi(phi.PatientName, PhiCategory.PatientName)
                .Append("    MRN: ").Phi(phi.MedicalRecordNumber, PhiCategory.MedicalRecordNumber)
                .Append("    DOB: ").Phi(Date(phi.BirthDate), PhiCategory.Date).Append('\n')
                .Append("Accession: ").Phi(phi.AccessionNumber, PhiCategory.AccessionNumber)
                .Append("    Exam date: ").Phi(Date(phi.StudyDate), PhiCategory.Date).Append('\n')
                .Append("Referring physician: ").Phi(phi.ReferringPhysician, PhiCategory.ReferringPhysician).Append("\n\n");
        }

        text.Append("Technique: Non-contrast chest CT, axial sections from the thoracic inlet to the upper abdomen.\n\n");
        text.Append("Findings: ");
        int findingsStart = text.Length;
        foreach (var sentence in FindingSentences(findings, rng))
        {
            text.Append(sentence).Append(' ');
        }

        if (phi is not null)
        {
            text.Append("Compared with the previous examination dated ").Phi(Date(phi.PriorStudyDate), PhiCategory.Date)
                .Append(", read by ").Phi(phi.ReferringPhysician, PhiCategory.ReferringPhysician).Append(", there is no new lesion elsewhere. ");
        }

        string findingsText = text.ToString()[findingsStart..].TrimEnd();
        string impression = Impression(findings);
        text.Append("\n\nImpression: ").Append(impression).Append('\n');
        return new PhantomReport(text.ToString(), findingsText, impression, PhantomReport.PromptFor(age, sex, impression), text.Spans);
    }

    private static string Date(DateOnly d) => d.ToString("dd.MM.yyyy", System.Globalization.CultureInfo.InvariantCulture);

    private static IEnumerable<string> FindingSentences(IReadOnlyList<Finding> findings, Random rng)
    {
        string Pick(params string[] options) => options[rng.Next(options.Length)];

        yield return Pick(
            "Trachea and both main bronchi are midline and patent, with no endoluminal lesion.",
            "Trachea and main bronchi are open; no obstructive lesion is seen in their lumen.");

        var cm = findings.OfType<Cardiomegaly>().FirstOrDefault();
        yield return cm is null
            ? Pick("Heart size is normal.", "Heart contour and size are within normal limits.")
            : $"The heart is enlarged, with a cardiothoracic ratio of about {cm.CardiothoracicRatio:0.00}.";

        var pe = findings.OfType<PericardialEffusion>().FirstOrDefault();
        yield return pe is null
            ? "No pericardial effusion or thickening."
            : $"Pericardial effusion is present, up to {pe.ThicknessMm:0} mm thick.";

        yield return Pick(
            "Calibre of the thoracic aorta and main pulmonary artery is normal.",
            "Mediastinal great vessels are of normal calibre.");
        yield return "No mediastinal or hilar lymph node of pathological size.";

        var pl = findings.OfType<PleuralEffusion>().FirstOrDefault();
        yield return pl is null
            ? "No pleural effusion."
            : $"{SideWord(pl.Side, capital: true)} pleural effusion{(pl.Side == Side.Bilateral ? "s" : string.Empty)} layering posteriorly, up to about {pl.DepthMm * 1.6:0} mm deep at the base{(pl.Side == Side.Bilateral ? "s" : string.Empty)}.";

        yield return "Lung parenchyma window:";
        var em = findings.OfType<Emphysema>().FirstOrDefault();
        if (em is not null)
        {
            yield return $"Centrilobular emphysematous changes, predominantly in the upper lobes, involving about {em.LowAttenuationFraction * 100:0}% of the lung volume.";
        }

        var co = findings.OfType<Consolidation>().FirstOrDefault();
        if (co is not null)
        {
            yield return $"Airspace consolidation in the {SideWord(co.Side, capital: false)} lung, about {co.RadiusMm * 2.2:0} mm across.";
        }

        var at = findings.OfType<Atelectasis>().FirstOrDefault();
        if (at is not null)
        {
            yield return at.Side == Side.Bilateral
                ? "Linear (plate-like) atelectasis in both lower zones."
                : $"Linear (plate-like) atelectasis in the {SideWord(at.Side, capital: false)} lower zone.";
        }

        var no = findings.OfType<LungNodules>().FirstOrDefault();
        if (no is not null)
        {
            var sizes = string.Join(", ", no.DiametersMm.OrderByDescending(d => d).Select(d => $"{d:0} mm"));
            yield return no.DiametersMm.Count == 1
                ? $"A solid pulmonary nodule measuring {sizes}."
                : $"{no.DiametersMm.Count} solid pulmonary nodules, measuring {sizes}.";
        }

        if (em is null && co is null && at is null && no is null)
        {
            yield return Pick("No nodule, mass or infiltrate is seen in either lung.", "Both lungs are clear; no active infiltration or mass.");
        }

        yield return "Bone structures in the scanned area are unremarkable.";
        yield return "Visualised upper abdominal organs are unremarkable.";
    }

    /// <summary>Impression: the findings in the order a radiologist would rank them, or a normal statement.</summary>
    public static string Impression(IReadOnlyList<Finding> findings)
    {
        var items = new List<string>();
        foreach (var f in findings.OrderBy(f => f.Kind))
        {
            items.Add(f switch
            {
                Cardiomegaly => "Cardiomegaly.",
                PericardialEffusion => "Pericardial effusion.",
                PleuralEffusion p => $"{SideWord(p.Side, capital: true)} pleural effusion.",
                LungNodules n => n.DiametersMm.Count == 1 ? "Pulmonary nodule." : "Pulmonary nodules.",
                Consolidation c => $"Consolidation in the {SideWord(c.Side, capital: false)} lung, compatible with pneumonia.",
                Emphysema => "Emphysema.",
                Atelectasis a => a.Side == Side.Bilateral ? "Bilateral atelectasis." : $"Atelectasis in the {SideWord(a.Side, capital: false)} lung.",
                _ => throw new ArgumentOutOfRangeException(nameof(findings), f, "unknown finding"),
            });
        }

        return items.Count == 0 ? "No significant thoracic pathology." : string.Join(' ', items);
    }

    private static string SideWord(Side side, bool capital) => (side, capital) switch
    {
        (Side.Right, true) => "Right",
        (Side.Right, false) => "right",
        (Side.Left, true) => "Left",
        (Side.Left, false) => "left",
        (_, true) => "Bilateral",
        _ => "both",
    };

    /// <summary>A string builder that remembers where planted identifiers were appended.</summary>
    private sealed class SpanRecorder
    {
        private readonly System.Text.StringBuilder sb = new();

        public List<PhiSpan> Spans { get; } = [];

        public int Length => sb.Length;

        public SpanRecorder Append(string s)
        {
            sb.Append(s);
            return this;
        }

        public SpanRecorder Append(char c)
        {
            sb.Append(c);
            return this;
        }

        public SpanRecorder Phi(string value, PhiCategory category)
        {
            Spans.Add(new PhiSpan(sb.Length, value.Length, category, value));
            sb.Append(value);
            return this;
        }

        public override string ToString() => sb.ToString();
    }
}
