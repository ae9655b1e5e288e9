namespace GenerateCT.Deid.Profile;

/// <summary>
/// The action codes of PS3.15 Table E.1-1 (legend in PS3.15 §E.3.1). The combined codes choose
/// among their parts by what the IOD requires of the attribute: X/Z removes it unless the IOD makes
/// it Type 2 (then zero length), X/D removes it unless Type 1 (then a dummy), and so on.
/// </summary>
public enum ProfileAction
{
    /// <summary>D: replace with a non-zero-length dummy value consistent with the VR.</summary>
    D,
    /// <summary>Z: replace with a zero-length value.</summary>
    Z,
    /// <summary>X: remove.</summary>
    X,
    /// <summary>K: keep (sequences are still cleaned item by item).</summary>
    K,
    /// <summary>C: clean — replace with values of similar meaning known not to identify.</summary>
    C,
    /// <summary>U: replace with a non-zero-length UID that is internally consistent within the set of instances.</summary>
    U,
    /// <summary>Z/D: Z unless D is required to keep the IOD conformant (Type 1).</summary>
    ZD,
    /// <summary>X/Z: X unless Z is required (Type 2).</summary>
    XZ,
    /// <summary>X/D: X unless D is required (Type 1).</summary>
    XD,
    /// <summary>X/Z/D: X unless Z (Type 2) or D (Type 1) is required.</summary>
    XZD,
    /// <summary>X/Z/U*: X unless Z or replacement of the contained instance UIDs (U) is required.</summary>
    XZU,
}

/// <summary>The option columns of PS3.15 Table E.1-1 (PS3.15 §E.3.1–§E.3.11).</summary>
public enum ProfileOption
{
    RetainSafePrivate,
    RetainUids,
    RetainDeviceIdentity,
    RetainInstitutionIdentity,
    RetainPatientCharacteristics,
    RetainLongitudinalFullDates,
    RetainLongitudinalModifiedDates,
    CleanDescriptors,
    CleanStructuredContent,
    CleanGraphics,
}

/// <summary>One option column's code for a row of Table E.1-1.</summary>
internal readonly record struct OptionAction(ProfileOption Option, ProfileAction Action);

/// <summary>
/// One row of Table E.1-1. <see cref="Tag"/> and <see cref="Mask"/> match an attribute tag t when
/// (t &amp; Mask) == Tag, which covers the repeating groups (50XX,XXXX) and (60XX,xxxx).
/// </summary>
internal sealed record ProfileEntry(uint Tag, uint Mask, string Keyword, string Name, string Vr, ProfileAction Basic, OptionAction[] Options)
{
    public bool Matches(uint tag) => (tag & Mask) == Tag;

    /// <summary>
    /// The action under the enabled options: an option column's code replaces the Basic Profile code
    /// (PS3.15 §E.3.2–§E.3.11); when several enabled options name the row, K wins over C because
    /// keeping is what an enabled Retain option asks for.
    /// </summary>
    public ProfileAction ActionFor(IReadOnlySet<ProfileOption> enabled)
    {
        ProfileAction? chosen = null;
        foreach (var o in Options)
        {
            if (!enabled.Contains(o.Option))
                continue;
            if (chosen is null || o.Action == ProfileAction.K)
                chosen = o.Action;
        }
        return chosen ?? Basic;
    }
}
