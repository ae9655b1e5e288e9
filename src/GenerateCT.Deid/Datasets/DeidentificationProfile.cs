using GenerateCT.Deid.Profile;

namespace GenerateCT.Deid.Datasets;

/// <summary>
/// Which PS3.15 Annex E options a node applies and what it refuses (bound from configuration,
/// section "Deidentification"). The defaults are the node's: patient characteristics and
/// longitudinal modified dates retained (age and sex form the prompt; intervals survive), descriptors
/// cleaned, device identity not retained, only CT accepted.
/// </summary>
public sealed class DeidentificationProfile
{
    /// <summary>PS3.15 §E.3.10: keep age, sex, size, weight, smoking and pregnancy status.</summary>
    public bool RetainPatientCharacteristics { get; set; } = true;

    /// <summary>PS3.15 §E.3.6: dates shifted by a per-patient keyed offset instead of removed.</summary>
    public bool RetainLongitudinalModifiedDates { get; set; } = true;

    /// <summary>PS3.15 §E.3.5: descriptions cleaned of names and identifiers instead of removed.</summary>
    public bool CleanDescriptors { get; set; } = true;

    /// <summary>PS3.15 §E.3.8: keep station name, serial numbers and the like. Off for this product.</summary>
    public bool RetainDeviceIdentity { get; set; }

    /// <summary>Modalities accepted; anything else is refused with <see cref="RefusalReason.Modality"/>.</summary>
    public IList<string> AcceptedModalities { get; set; } = ["CT"];

    /// <summary>Refuse instances with Burned In Annotation (0028,0301) YES: text in the pixels cannot be cleaned here.</summary>
    public bool RefuseBurnedInAnnotation { get; set; } = true;

    /// <summary>Refuse Secondary Capture instances (screenshots, scanned documents often carry burned-in PHI).</summary>
    public bool RefuseSecondaryCapture { get; set; } = true;

    /// <summary>
    /// Private attributes kept despite PS3.15 §E.3.1 (all others are removed), as "gggg,eeee" hex with the
    /// block byte written as xx, together with the private creator: "SIEMENS CT VA0  COAD:0019,xx92".
    /// Empty by default.
    /// </summary>
    public IList<string> PrivateAttributeAllowList { get; set; } = [];

    /// <summary>Keep a pseudonym table for re-identification (encrypted at rest). Off by default.</summary>
    public bool EnablePseudonymTable { get; set; }

    /// <summary>The option names accepted by <see cref="Parse"/> and `gct deid --options`.</summary>
    public static readonly IReadOnlyList<string> OptionNames = ["retain-characteristics", "modified-dates", "clean-descriptors", "retain-device-identity"];

    /// <summary>A profile with exactly the named options on (e.g. "retain-characteristics,modified-dates,clean-descriptors"); "" or "none" is the Basic Profile alone.</summary>
    public static DeidentificationProfile Parse(string options)
    {
        var p = new DeidentificationProfile { RetainPatientCharacteristics = false, RetainLongitudinalModifiedDates = false, CleanDescriptors = false, RetainDeviceIdentity = false };
        foreach (var raw in options.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            switch (raw.ToLowerInvariant())
            {
                case "retain-characteristics": p.RetainPatientCharacteristics = true; break;
                case "modified-dates": p.RetainLongitudinalModifiedDates = true; break;
                case "clean-descriptors": p.CleanDescriptors = true; break;
                case "retain-device-identity": p.RetainDeviceIdentity = true; break;
                case "none": break;
                default: throw new ArgumentException($"unknown de-identification option '{raw}'; use any of {string.Join(", ", OptionNames)}", nameof(options));
            }
        }
        return p;
    }

    /// <summary>The Table E.1-1 option columns this profile enables.</summary>
    public IReadOnlySet<ProfileOption> EnabledOptions()
    {
        var set = new HashSet<ProfileOption>();
        if (RetainPatientCharacteristics) set.Add(ProfileOption.RetainPatientCharacteristics);
        if (RetainLongitudinalModifiedDates) set.Add(ProfileOption.RetainLongitudinalModifiedDates);
        if (CleanDescriptors) set.Add(ProfileOption.CleanDescriptors);
        if (RetainDeviceIdentity) set.Add(ProfileOption.RetainDeviceIdentity);
        return set;
    }
}
