using System.Globalization;
using System.Text;
using GenerateCT.Deid.Keys;
using GenerateCT.Deid.Profile;
using GenerateCT.Deid.Reports;
using GenerateCT.Dicom;

namespace GenerateCT.Deid.Datasets;

/// <summary>What de-identifying one instance produced.</summary>
public sealed record DeidentifiedInstance(
    DicomDataset Dataset,
    string PseudonymousPatientId,
    string? PseudonymousAccessionNumber,
    string StudyInstanceUid,
    string SeriesInstanceUid,
    string SopInstanceUid,
    int? DateShiftDays);

/// <summary>
/// Applies the PS3.15 Annex E Basic Application Level Confidentiality Profile (every row of the
/// generated Table E.1-1, <see cref="ConfidentialityProfileTable"/>) with the options of a
/// <see cref="DeidentificationProfile"/>, recursively into sequences. Replacements are keyed with the
/// site secret (<see cref="KeyedPseudonyms"/>): UIDs map to the same 2.25 UIDs on every re-send,
/// dates of one patient move by the same number of days, and the accession number becomes the same
/// pseudonym the report scrubber gives the report.
/// </summary>
public sealed class DicomDeidentifier
{
    /// <summary>Secondary Capture SOP classes (PS3.4 Annex B.5): single-frame and the four multi-frame ones.</summary>
    private static readonly string[] SecondaryCaptureClasses = ["1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4"];

    private readonly DeidentificationProfile _profile;
    private readonly KeyedPseudonyms _keys;
    private readonly PseudonymTable? _pseudonyms;
    private readonly IReadOnlySet<ProfileOption> _options;
    private readonly ReportScrubber _scrubber = new();
    private readonly HashSet<uint> _allowedPrivate;
    private readonly HashSet<(ushort Group, string Creator)> _allowedCreators;

    public DicomDeidentifier(DeidentificationProfile profile, KeyedPseudonyms keys, PseudonymTable? pseudonyms = null)
    {
        _profile = profile;
        _keys = keys;
        _pseudonyms = profile.EnablePseudonymTable ? pseudonyms ?? throw new ArgumentException("the profile enables the pseudonym table but none was given", nameof(pseudonyms)) : null;
        _options = profile.EnabledOptions();
        (_allowedPrivate, _allowedCreators) = ParseAllowList(profile.PrivateAttributeAllowList);
    }

    /// <summary>De-identifies a Part 10 file into a new one (fresh File Meta Information, same transfer syntax).</summary>
    public DicomFile Deidentify(DicomFile file) =>
        new(Deidentify(file.Dataset).Dataset, file.TransferSyntax);

    /// <summary>
    /// Returns a de-identified copy of <paramref name="original"/> (which is not modified), or throws
    /// <see cref="DeidentificationRefusedException"/> for instances the profile refuses.
    /// </summary>
    public DeidentifiedInstance Deidentify(DicomDataset original)
    {
        Screen(original);
        var ds = original.Clone();
        var patientId = original.GetString(DicomTag.PatientID) ?? "";
        var patientKey = patientId.Length > 0 ? patientId
            : (original.GetString(DicomTag.PatientName) ?? "") + "|" + (original.GetString(DicomTag.PatientBirthDate) ?? "") is { Length: > 1 } nameKey ? nameKey
            : original.GetString(DicomTag.StudyInstanceUID) ?? throw new DeidentificationRefusedException(RefusalReason.MissingIdentity, "the instance has neither Patient ID, Patient's Name nor Study Instance UID; nothing keys a consistent date shift");
        int? shift = _profile.RetainLongitudinalModifiedDates ? _keys.DateShiftDays(patientKey) : null;
        var context = new Walk(this, shift, BuildScrubContext(original, shift));

        var age = _profile.RetainPatientCharacteristics ? PatientAge(original) : null;
        context.Process(ds);

        // Patient ID and Accession Number (Z/D and Z in Table E.1-1) get keyed pseudonyms rather than
        // empty values: a non-zero dummy is allowed by both codes, and it is what links a patient's
        // studies and a report to its study without revealing either.
        var pseudoPatient = _keys.PatientId(patientKey);
        ds.SetString(DicomTag.PatientID, pseudoPatient, DicomVR.LO);
        ds.SetString(DicomTag.PatientName, pseudoPatient, DicomVR.PN);
        var accession = original.GetString(DicomTag.AccessionNumber);
        string? pseudoAccession = null;
        if (!string.IsNullOrWhiteSpace(accession))
        {
            pseudoAccession = _keys.AccessionNumber(accession);
            ds.SetString(DicomTag.AccessionNumber, pseudoAccession, DicomVR.SH);
        }
        if (age is not null)
            ds.SetString(DicomTag.PatientAge, age, DicomVR.AS);

        RecordMethod(ds);
        var study = ds.GetString(DicomTag.StudyInstanceUID) ?? "";
        var series = ds.GetString(DicomTag.SeriesInstanceUID) ?? "";
        var sop = ds.GetString(DicomTag.SOPInstanceUID) ?? "";
        if (_pseudonyms is not null)
        {
            _pseudonyms.Record("patient", pseudoPatient, patientKey);
            if (pseudoAccession is not null) _pseudonyms.Record("accession", pseudoAccession, accession!);
            if (original.GetString(DicomTag.StudyInstanceUID) is { } s) _pseudonyms.Record("study", study, s);
        }
        return new DeidentifiedInstance(ds, pseudoPatient, pseudoAccession, study, series, sop, shift);
    }

    /// <summary>Refusals of §"Datasets" of the profile: wrong modality, burned-in text, secondary capture.</summary>
    private void Screen(DicomDataset ds)
    {
        var modality = (ds.GetString(DicomTag.Modality) ?? "").Trim();
        if (!_profile.AcceptedModalities.Contains(modality, StringComparer.OrdinalIgnoreCase))
            throw new DeidentificationRefusedException(RefusalReason.Modality, $"modality '{modality}' is not accepted (accepted: {string.Join(", ", _profile.AcceptedModalities)}); configure Deidentification:AcceptedModalities to change this");
        if (_profile.RefuseBurnedInAnnotation && string.Equals(ds.GetString(DicomTag.BurnedInAnnotation)?.Trim(), "YES", StringComparison.OrdinalIgnoreCase))
            throw new DeidentificationRefusedException(RefusalReason.BurnedInAnnotation, "Burned In Annotation (0028,0301) is YES: identifying text in the pixels cannot be removed here; send the original reconstruction instead");
        var sopClass = ds.GetString(DicomTag.SOPClassUID) ?? "";
        if (_profile.RefuseSecondaryCapture && (SecondaryCaptureClasses.Contains(sopClass) || ds.Contains(DicomTag.ConversionType)))
            throw new DeidentificationRefusedException(RefusalReason.SecondaryCapture, $"SOP class {sopClass} is a secondary capture (or Conversion Type is present); such images often carry burned-in identifiers and are refused");
    }

    /// <summary>
    /// Records what was done (PS3.15 §E.1.1 and PS3.3 §C.12.1.1.5): Patient Identity Removed YES,
    /// De-identification Method, its Code Sequence with one CID 7050 code per profile and option,
    /// and Longitudinal Temporal Information Modified (PS3.3 §C.7.6.1.1.7).
    /// </summary>
    private void RecordMethod(DicomDataset ds)
    {
        var codes = new List<(string Value, string Meaning)> { ("113100", "Basic Application Confidentiality Profile") };
        if (_profile.CleanDescriptors) codes.Add(("113105", "Clean Descriptors Option"));
        if (_profile.RetainLongitudinalModifiedDates) codes.Add(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"));
        if (_profile.RetainPatientCharacteristics) codes.Add(("113108", "Retain Patient Characteristics Option"));
        if (_profile.RetainDeviceIdentity) codes.Add(("113109", "Retain Device Identity Option"));
        ds.SetString(DicomTag.PatientIdentityRemoved, "YES", DicomVR.CS);
        ds.SetStrings(DicomTag.DeidentificationMethod, [.. codes.Select(c => c.Meaning), "GenerateCT.Deid keyed UIDs and pseudonyms"]);
        var items = codes.Select(c =>
        {
            var item = new DicomDataset();
            item.SetString(DicomTag.CodeValue, c.Value, DicomVR.SH);
            item.SetString(DicomTag.CodingSchemeDesignator, "DCM", DicomVR.SH);
            item.SetString(DicomTag.CodeMeaning, c.Meaning, DicomVR.LO);
            return item;
        }).ToArray();
        ds.SetSequence(DicomTag.DeidentificationMethodCodeSequence, items);
        ds.SetString(DicomTag.LongitudinalTemporalInformationModified, _profile.RetainLongitudinalModifiedDates ? "MODIFIED" : "REMOVED", DicomVR.CS);
    }

    /// <summary>
    /// Patient's Age as AS, derived from birth and study dates when absent (so the prompt keeps its
    /// age after the birth date is removed); ages over 89 become "090Y" (HIPAA Safe Harbor,
    /// 45 CFR §164.514(b)(2)(i)(C)).
    /// </summary>
    private static string? PatientAge(DicomDataset ds)
    {
        var age = ds.GetString(DicomTag.PatientAge)?.Trim();
        if (string.IsNullOrEmpty(age))
        {
            var birth = DicomDate.Parse(ds.GetString(DicomTag.PatientBirthDate));
            var at = DicomDate.Parse(ds.GetString(DicomTag.StudyDate)) ?? DicomDate.Parse(ds.GetString(DicomTag.ContentDate));
            if (birth is null || at is null || at < birth)
                return null;
            var years = AgeInYears.At(birth, at)!.Value;
            age = years.ToString("D3", CultureInfo.InvariantCulture) + "Y";
        }
        if (age.Length == 4 && age[3] == 'Y' && int.TryParse(age.AsSpan(0, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var y) && y > 89)
            return "090Y";
        return age;
    }

    /// <summary>Names and identifiers of the instance itself, removed from descriptors that Clean Descriptors keeps.</summary>
    private static ScrubContext BuildScrubContext(DicomDataset ds, int? shift)
    {
        var names = new List<PersonName>();
        var ids = new List<string>();
        foreach (var (owner, e) in ds.EnumerateAll())
        {
            if (e.VR == DicomVR.PN && owner.GetString(e.Tag) is { Length: > 0 } pn)
            {
                foreach (var v in pn.Split('\\'))
                    names.Add(PersonName.FromDicom(v));
            }
            else if (e.VR is DicomVR.LO or DicomVR.SH && ConfidentialityProfileTable.Find(e.Tag.Value) is { } row
                     && (row.Keyword.EndsWith("ID", StringComparison.Ordinal) || row.Keyword.Contains("Number", StringComparison.Ordinal) || row.Keyword.Contains("Identifier", StringComparison.Ordinal))
                     && owner.GetString(e.Tag) is { Length: >= 3 } id)
            {
                ids.AddRange(id.Split('\\').Where(v => v.Trim().Length >= 3));
            }
        }
        return new ScrubContext { Names = names, Identifiers = ids, DateShiftDays = shift };
    }

    private static (HashSet<uint>, HashSet<(ushort, string)>) ParseAllowList(IList<string> entries)
    {
        // Entries name "creator:gggg,xxee"; the element's block byte is resolved per data set from its creator.
        var tags = new HashSet<uint>();
        var creators = new HashSet<(ushort, string)>();
        foreach (var entry in entries)
        {
            var colon = entry.LastIndexOf(':');
            if (colon < 1 || entry.Length - colon - 1 != 9)
                throw new ArgumentException($"private allow-list entry '{entry}' must look like 'CREATOR:gggg,xxee'");
            var creator = entry[..colon].Trim();
            var group = ushort.Parse(entry.AsSpan(colon + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var elementLow = byte.Parse(entry.AsSpan(colon + 8, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            creators.Add((group, creator));
            tags.Add(((uint)group << 16) | elementLow);
        }
        return (tags, creators);
    }

    /// <summary>True when a private element is on the allow-list (its creator and low element byte match an entry).</summary>
    private bool PrivateAllowed(DicomDataset owner, DicomTag tag)
    {
        if (_allowedCreators.Count == 0)
            return false;
        if (tag.IsPrivateCreator)
        {
            var creator = owner.GetString(tag)?.Trim() ?? "";
            return _allowedCreators.Contains((tag.Group, creator));
        }
        var block = (ushort)(tag.Element >> 8);
        var creatorTag = new DicomTag(tag.Group, block);
        var name = owner.GetString(creatorTag)?.Trim() ?? "";
        return _allowedCreators.Contains((tag.Group, name)) && _allowedPrivate.Contains(((uint)tag.Group << 16) | (uint)(tag.Element & 0xFF));
    }

    /// <summary>One pass over a data set and its sequence items.</summary>
    private sealed class Walk(DicomDeidentifier owner, int? shift, ScrubContext scrub)
    {
        public void Process(DicomDataset ds)
        {
            foreach (var e in ds.ToList())
            {
                var tag = e.Tag;
                if (tag.Element == 0x0000 && tag.Group != 0x0000)
                {
                    ds.Remove(tag); // group lengths are retired (PS3.5 §7.2) and would be stale after removals
                    continue;
                }
                if (ConfidentialityProfileTable.IsPrivate(tag.Value))
                {
                    if (!owner.PrivateAllowed(ds, tag))
                        ds.Remove(tag);
                    else if (e is DicomSequence psq)
                        ProcessItems(psq);
                    continue;
                }
                var row = ConfidentialityProfileTable.Find(tag.Value);
                if (row is null)
                {
                    if (e is DicomSequence sq)
                        ProcessItems(sq);
                    continue;
                }
                Apply(ds, e, Resolve(row.ActionFor(owner._options)), row);
            }
        }

        /// <summary>
        /// Combined codes. In the CT Image IOD (PS3.3 §A.38.1) none of the attributes carrying X/Z, X/D
        /// or X/Z/D is Type 1 or Type 2, so their X applies; Z/D attributes (Content Date/Time, Patient
        /// ID, Contrast/Bolus Agent) are Type 2 there, so Z applies; X/Z/U* sequences of references
        /// are kept with every UID inside replaced (U*), which keeps references between instances.
        /// </summary>
        private static ProfileAction Resolve(ProfileAction a) => a switch
        {
            ProfileAction.XZ or ProfileAction.XD or ProfileAction.XZD => ProfileAction.X,
            ProfileAction.ZD => ProfileAction.Z,
            _ => a,
        };

        private void Apply(DicomDataset ds, DicomElement e, ProfileAction action, ProfileEntry row)
        {
            switch (action)
            {
                case ProfileAction.X:
                    ds.Remove(e.Tag);
                    break;
                case ProfileAction.Z:
                    if (e is DicomSequence)
                        ds.SetSequence(e.Tag);
                    else
                        ds.Add(new DicomElement(e.Tag, e.VR, ReadOnlyMemory<byte>.Empty));
                    break;
                case ProfileAction.K:
                case ProfileAction.XZU:
                    if (e is DicomSequence ksq)
                        ProcessItems(ksq);
                    break;
                case ProfileAction.U:
                    ReplaceUids(ds, e);
                    break;
                case ProfileAction.D:
                    Dummy(ds, e);
                    break;
                case ProfileAction.C:
                    Clean(ds, e, row);
                    break;
            }
        }

        private void ProcessItems(DicomSequence sq)
        {
            foreach (var item in sq.Items)
                Process(item);
        }

        private void ReplaceUids(DicomDataset ds, DicomElement e)
        {
            if (e is DicomSequence sq)
            {
                ProcessItems(sq);
                return;
            }
            var values = ds.GetStrings(e.Tag);
            if (values.Length == 0)
                return;
            ds.SetString(e.Tag, string.Join('\\', values.Select(v => owner._keys.Uid(v))), DicomVR.UI);
        }

        /// <summary>D: a non-zero-length dummy consistent with the VR; sequences keep their items, cleaned.</summary>
        private void Dummy(DicomDataset ds, DicomElement e)
        {
            if (e is DicomSequence sq)
            {
                ProcessItems(sq);
                return;
            }
            switch (e.VR)
            {
                case DicomVR.UI: ReplaceUids(ds, e); break;
                case DicomVR.DA: ds.SetString(e.Tag, "19000101", DicomVR.DA); break;
                case DicomVR.TM: ds.SetString(e.Tag, "000000", DicomVR.TM); break;
                case DicomVR.DT: ds.SetString(e.Tag, "19000101000000", DicomVR.DT); break;
                case DicomVR.AS: ds.SetString(e.Tag, "000Y", DicomVR.AS); break;
                case DicomVR.DS or DicomVR.IS: ds.SetString(e.Tag, "0", e.VR); break;
                case DicomVR.UR: ds.SetString(e.Tag, "urn:anonymized", DicomVR.UR); break;
                case DicomVR.PN or DicomVR.LO or DicomVR.SH or DicomVR.ST or DicomVR.LT or DicomVR.UT or DicomVR.UC or DicomVR.CS or DicomVR.AE:
                    ds.SetString(e.Tag, "ANONYMIZED", e.VR);
                    break;
                default:
                    ds.Add(new DicomElement(e.Tag, e.VR, new byte[Math.Max(2, (int)Math.Min(e.Value.Length, 8))]));
                    break;
            }
        }

        /// <summary>
        /// C: dates and date-times move by the patient's shift (times are kept: the shift is whole days);
        /// text is scrubbed of the instance's own names and identifiers and of anything that looks
        /// like PHI; a value this cannot clean falls back to the Basic Profile action.
        /// </summary>
        private void Clean(DicomDataset ds, DicomElement e, ProfileEntry row)
        {
            if (e is DicomSequence sq)
            {
                ProcessItems(sq);
                return;
            }
            var value = ds.GetString(e.Tag);
            if (value is null)
            {
                Apply(ds, e, Resolve(row.Basic), row);
                return;
            }
            switch (e.VR)
            {
                case DicomVR.DA or DicomVR.DT when shift is { } days:
                    var shifted = value.Split('\\').Select(v => e.VR == DicomVR.DA ? DateShift.ShiftDa(v, days) : DateShift.ShiftDt(v, days)).ToList();
                    if (shifted.Any(s => s is null))
                        ds.Remove(e.Tag);
                    else
                        ds.SetString(e.Tag, string.Join('\\', shifted), e.VR);
                    break;
                case DicomVR.TM when shift is not null:
                    break;
                case DicomVR.LO or DicomVR.SH or DicomVR.ST or DicomVR.LT or DicomVR.UT or DicomVR.UC or DicomVR.PN:
                    var parts = e.VR.IsSingleValuedText() || e.VR == DicomVR.UT ? [value] : value.Split('\\');
                    var clean = string.Join('\\', parts.Select(p => Fit(owner._scrubber.Scrub(p, scrub).Text, e.VR)));
                    ds.SetString(e.Tag, clean, e.VR);
                    break;
                case DicomVR.CS or DicomVR.AS or DicomVR.DS or DicomVR.IS or DicomVR.US or DicomVR.SS or DicomVR.FL or DicomVR.FD:
                    break; // coded and numeric values carry no free text to clean
                default:
                    Apply(ds, e, Resolve(row.Basic), row);
                    break;
            }
        }

        /// <summary>Replacement tokens may lengthen a value past its VR's maximum (PS3.5 Table 6.2-1).</summary>
        private static string Fit(string text, DicomVR vr)
        {
            var max = vr switch { DicomVR.SH => 16, DicomVR.LO => 64, DicomVR.ST => 1024, DicomVR.LT => 10240, DicomVR.PN => 64, _ => int.MaxValue };
            return text.Length <= max ? text : text[..max].TrimEnd();
        }
    }
}
