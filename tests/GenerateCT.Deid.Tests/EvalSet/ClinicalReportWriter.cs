namespace GenerateCT.Deid.Tests.EvalSet;

/// <summary>
/// The clinical body of a synthetic chest CT report. This is the seam to the phantom report writer
/// of GenerateCT.Imaging: whatever writes the findings of a phantom can stand behind this interface,
/// and the evaluation-set generator plants PHI around and inside what it writes.
/// </summary>
internal interface IClinicalReportWriter
{
    ClinicalReport Write(Random rng);
}

/// <summary>Clinical sentences of one report; none of them contains PHI.</summary>
internal sealed record ClinicalReport(string History, string Technique, IReadOnlyList<string> Findings, IReadOnlyList<string> Impression);

/// <summary>
/// A stand-in for the phantom report writer while GenerateCT.Imaging's is not available: chest CT
/// findings (nodules with size and lobe, emphysema, effusions, consolidation, lymph nodes, coronary
/// calcification, cardiomegaly) in the register of CT-RATE reports.
/// </summary>
internal sealed class ChestCtFindingsWriter : IClinicalReportWriter
{
    private static readonly string[] Lobes = ["right upper lobe", "right middle lobe", "right lower lobe", "left upper lobe", "lingula", "left lower lobe"];
    private static readonly string[] Histories =
    [
        "chronic cough and weight loss", "follow-up of a pulmonary nodule", "shortness of breath", "staging of lung adenocarcinoma",
        "fever and suspected pneumonia", "hemoptysis", "smoking history, lung cancer screening", "chest pain after a fall",
        "interstitial lung disease follow-up", "dyspnea on exertion",
    ];
    private static readonly string[] Techniques =
    [
        "Axial images of the chest were obtained without intravenous contrast. Multiplanar reformats were reviewed.",
        "Contrast-enhanced CT of the chest in the portal venous phase with 1 mm reconstructions.",
        "Low-dose non-contrast CT of the chest per screening protocol. Slice thickness 1.25 mm.",
        "CT angiography of the chest with 80 mL of iodinated contrast. Lung and mediastinal windows reviewed.",
    ];

    public ClinicalReport Write(Random rng)
    {
        var findings = new List<string>();
        var impression = new List<string>();
        var lobe = Lobes[rng.Next(Lobes.Length)];
        var size = rng.Next(3, 28);
        switch (rng.Next(4))
        {
            case 0:
                findings.Add($"A solid nodule measuring {size} mm is present in the {lobe}.");
                impression.Add(size >= 8 ? $"Solid {size} mm nodule in the {lobe}, suspicious; tissue sampling or PET-CT is recommended." : $"Small {size} mm nodule in the {lobe}, likely benign.");
                break;
            case 1:
                findings.Add($"Patchy ground-glass opacity in the {lobe} with interlobular septal thickening.");
                impression.Add($"Ground-glass opacity in the {lobe}, infectious or inflammatory.");
                break;
            case 2:
                findings.Add($"Consolidation with air bronchograms in the {lobe}.");
                impression.Add($"Consolidation in the {lobe} consistent with pneumonia.");
                break;
            default:
                findings.Add("The lungs are clear without focal consolidation, nodule or mass.");
                impression.Add("No acute cardiopulmonary abnormality.");
                break;
        }
        if (rng.Next(3) == 0)
        {
            findings.Add("Centrilobular emphysema with upper lobe predominance.");
            impression.Add("Moderate centrilobular emphysema.");
        }
        findings.Add(rng.Next(2) == 0 ? "Small bilateral pleural effusions with adjacent atelectasis." : "No pleural effusion or pneumothorax.");
        findings.Add(rng.Next(2) == 0 ? $"Mediastinal lymph nodes are not enlarged; the largest subcarinal node measures {rng.Next(5, 10)} mm in short axis." : $"Enlarged right paratracheal lymph node measuring {rng.Next(11, 25)} mm.");
        findings.Add(rng.Next(2) == 0 ? "Heart size is normal. Coronary artery calcification is present." : "Mild cardiomegaly without pericardial effusion.");
        findings.Add("Visualized upper abdomen shows no acute abnormality. Degenerative changes of the thoracic spine.");
        return new ClinicalReport(Histories[rng.Next(Histories.Length)], Techniques[rng.Next(Techniques.Length)], findings, impression);
    }
}
