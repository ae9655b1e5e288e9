namespace GenerateCT.Imaging.Phantoms;

/// <summary>The tissue classes a phantom is painted with; each has one mean attenuation.</summary>
internal enum Tissue : byte
{
    Air,
    Table,
    Fat,
    Muscle,
    Diaphragm,
    Bone,
    CancellousBone,
    Cartilage,
    Lung,
    EmphysematousLung,
    PulmonaryVessel,
    Blood,
    Heart,
    AirwayWall,
    AirwayLumen,
    Esophagus,
    Liver,
    Spleen,
    StomachContents,
    Csf,
    PleuralFluid,
    PericardialFluid,
    Consolidation,
    Atelectasis,
    Nodule,

    /// <summary>Painted but not yet accepted (an opacity being tried at a position).</summary>
    Pending,
}

/// <summary>Mean unenhanced attenuation per tissue (HU), from typical non-contrast chest CT values.</summary>
internal static class TissueAttenuation
{
    private static readonly float[] Hu = Build();

    public static float Of(Tissue t) => Hu[(int)t];

    private static float[] Build()
    {
        var hu = new float[32];
        hu[(int)Tissue.Air] = -1000;
        hu[(int)Tissue.Table] = 150; // couch shell
        hu[(int)Tissue.Fat] = -100;
        hu[(int)Tissue.Muscle] = 50;
        hu[(int)Tissue.Diaphragm] = 50;
        hu[(int)Tissue.Bone] = 600;
        hu[(int)Tissue.CancellousBone] = 250;
        hu[(int)Tissue.Cartilage] = 120;
        hu[(int)Tissue.Lung] = -860;
        hu[(int)Tissue.EmphysematousLung] = -975;
        hu[(int)Tissue.PulmonaryVessel] = 40;
        hu[(int)Tissue.Blood] = 40;
        hu[(int)Tissue.Heart] = 42;
        hu[(int)Tissue.AirwayWall] = 30;
        hu[(int)Tissue.AirwayLumen] = -1000;
        hu[(int)Tissue.Esophagus] = 35;
        hu[(int)Tissue.Liver] = 65;
        hu[(int)Tissue.Spleen] = 48;
        hu[(int)Tissue.StomachContents] = 32;
        hu[(int)Tissue.Csf] = 8;
        hu[(int)Tissue.PleuralFluid] = 10; // simple (transudative) effusion
        hu[(int)Tissue.PericardialFluid] = 6;
        hu[(int)Tissue.Consolidation] = 38;
        hu[(int)Tissue.Atelectasis] = 40;
        hu[(int)Tissue.Nodule] = 42;
        return hu;
    }
}

/// <summary>A set of tissues (bit mask) a primitive may paint over.</summary>
internal readonly record struct TissueSet(ulong Bits)
{
    public static TissueSet All { get; } = new(ulong.MaxValue);

    public static TissueSet Of(params Tissue[] tissues)
    {
        ulong bits = 0;
        foreach (var t in tissues)
        {
            bits |= 1UL << (int)t;
        }

        return new TissueSet(bits);
    }

    public bool Contains(Tissue t) => (Bits & (1UL << (int)t)) != 0;
}
