using GenerateCT.Imaging.Phantoms.Findings;

namespace GenerateCT.Imaging.Phantoms;

/// <summary>Paints anatomy and findings into a <see cref="LabelCanvas"/> and renders it to HU.</summary>
internal sealed class PhantomPainter(LabelCanvas canvas, ChestPhantomGenerator.Anatomy anatomy, Random rng)
{
    private const double L = ChestPhantomGenerator.ScanLengthMm;
    private const double MidlineX = 4;

    private static readonly TissueSet LungOnly = TissueSet.Of(Tissue.Lung);
    private static readonly TissueSet AeratedLung = TissueSet.Of(Tissue.Lung, Tissue.PulmonaryVessel);
    private static readonly TissueSet SoftAroundHeart = TissueSet.Of(Tissue.Lung, Tissue.PulmonaryVessel, Tissue.Fat, Tissue.Diaphragm, Tissue.Liver, Tissue.Spleen, Tissue.StomachContents, Tissue.Air);

    private double A => anatomy.CavityA;

    private double B => anatomy.CavityB;

    private double Yc => anatomy.CavityY;

    /// <summary>
    /// Lung margin kept clear around isolated opacities: at least one voxel per axis, so no other tissue is
    /// face-adjacent (6-connected, as <see cref="ChestScan"/> counts) to the opacity.
    /// </summary>
    private Vec3 Halo => new(Math.Max(3, 1.05 * canvas.Sx), Math.Max(3, 1.05 * canvas.Sy), Math.Max(3, 1.05 * canvas.Sz));

    public void PaintAnatomy(PericardialEffusion? pericardial)
    {
        BasePass();
        Spine();
        Scapulae();
        Airways();
        Heart(pericardial?.ThicknessMm ?? 0);
        GreatVessels();
        var hilumR = new Vec3(-50, Yc + (0.05 * B), 0.57 * L);
        var hilumL = new Vec3(48, Yc + (0.1 * B), 0.59 * L);
        VesselTrees(hilumR, -1);
        VesselTrees(hilumL, +1);
    }

    /// <summary>
    /// Paints the findings and returns them as planted: a lung opacity that finds no room on its requested
    /// side moves to the other lung (its side updated), and one with no room anywhere is left out, so the
    /// returned list, and the report written from it, always match the voxels.
    /// </summary>
    public List<Finding> PaintFindings(IReadOnlyList<Finding> findings)
    {
        var planted = new List<Finding>();
        foreach (var f in findings.OfType<PleuralEffusion>())
        {
            PleuralFluid(f);
            planted.Add(f);
        }

        foreach (var f in findings.OfType<Atelectasis>())
        {
            AddIfPlanted(planted, PlateAtelectasis(f));
        }

        foreach (var f in findings.OfType<Consolidation>())
        {
            AddIfPlanted(planted, ConsolidationBlob(f));
        }

        foreach (var f in findings.OfType<LungNodules>())
        {
            AddIfPlanted(planted, Nodules(f));
        }

        PruneDetachedVessels();
        foreach (var f in findings.OfType<Emphysema>())
        {
            EmphysemaField(f.LowAttenuationFraction);
            planted.Add(f);
        }

        planted.AddRange(findings.Where(f => f is Cardiomegaly or PericardialEffusion));
        return planted.OrderBy(f => f.Kind).ToList();
    }

    private static void AddIfPlanted(List<Finding> planted, Finding? finding)
    {
        if (finding is not null)
        {
            planted.Add(finding);
        }
    }

    /// <summary>Plate-like atelectasis in the lower zones; a side without room moves to the other lung (unless bilateral). Null when nothing fits.</summary>
    private Atelectasis? PlateAtelectasis(Atelectasis f)
    {
        var sides = new List<int>();
        var radii = new Vec3(f.LengthMm / 2, 2.5, 25);
        void Plate(Vec3 c) => canvas.PaintEllipsoid(c, radii, Tissue.Pending, LungOnly);
        foreach (int side in Sides(f.Side))
        {
            if (Place(radii, side, (0.3, 0.75), (-0.2, 0.5), (0.3, 0.6), Plate, Tissue.Atelectasis) is not null)
            {
                sides.Add(side);
            }
            else if (f.Side != Side.Bilateral && Place(radii, -side, (0.3, 0.75), (-0.2, 0.5), (0.3, 0.6), Plate, Tissue.Atelectasis) is not null)
            {
                sides.Add(-side);
            }
        }

        return sides.Count > 0 ? f with { Side = sides.Count == 2 ? Side.Bilateral : sides[0] < 0 ? Side.Right : Side.Left } : null;
    }

    /// <summary>A lobulated consolidation with air bronchograms, on the requested side or else the other. Null when it fits in neither lung.</summary>
    private Consolidation? ConsolidationBlob(Consolidation f)
    {
        double r = f.RadiusMm;
        var bound = new Vec3(1.15 * r, 1.15 * r, 1.15 * r);
        int side = f.Side == Side.Left ? 1 : -1;
        var lobes = new Vec3[3];
        for (int lobe = 0; lobe < lobes.Length; lobe++)
        {
            lobes[lobe] = new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5).Normalized * (0.45 * r);
        }

        void Blob(Vec3 c)
        {
            canvas.PaintEllipsoid(c, new Vec3(r, r, r), Tissue.Pending, LungOnly);
            foreach (var offset in lobes)
            {
                canvas.PaintEllipsoid(c + offset, new Vec3(0.7 * r, 0.7 * r, 0.7 * r), Tissue.Pending, LungOnly);
            }
        }

        var c = Place(bound, side, (0.4, 0.75), (-0.45, 0.45), (0.35, 0.72), Blob, Tissue.Consolidation);
        if (c is null && (c = Place(bound, -side, (0.4, 0.75), (-0.45, 0.45), (0.35, 0.72), Blob, Tissue.Consolidation)) is not null)
        {
            side = -side;
        }

        if (c is null)
        {
            return null;
        }

        AirBronchograms(c.Value, r);
        return f with { Side = side < 0 ? Side.Right : Side.Left };
    }

    /// <summary>Solid nodules, each on a random side or else the other; those that fit nowhere are dropped. Null when none fits.</summary>
    private LungNodules? Nodules(LungNodules f)
    {
        var placed = new List<double>();
        foreach (var d in f.DiametersMm)
        {
            var radii = new Vec3(d / 2, d / 2, d / 2);
            int side = rng.Next(2) == 0 ? -1 : 1;
            void Sphere(Vec3 c) => canvas.PaintEllipsoid(c, radii, Tissue.Pending, LungOnly);
            if ((Place(radii, side, (0.3, 0.85), (-0.7, 0.6), (0.35, 0.85), Sphere, Tissue.Nodule) ?? Place(radii, -side, (0.3, 0.85), (-0.7, 0.6), (0.35, 0.85), Sphere, Tissue.Nodule)) is not null)
            {
                placed.Add(d);
            }
        }

        return placed.Count > 0 ? new LungNodules(placed) : null;
    }

    private static int[] Sides(Side side) => side switch
    {
        Side.Right => [-1],
        Side.Left => [1],
        _ => [-1, 1],
    };

    // ---- anatomy -------------------------------------------------------------------------------

    private void BasePass()
    {
        var a = anatomy;
        Parallel.For(0, canvas.Depth, k =>
        {
            double z = canvas.Z(k);
            for (int j = 0; j < canvas.Height; j++)
            {
                double y = canvas.Y(j);
                long row = canvas.Index(k, j, 0);
                for (int i = 0; i < canvas.Width; i++)
                {
                    canvas.Labels[row + i] = BaseTissue(canvas.X(i), y, z, a);
                }
            }
        });
    }

    private Tissue BaseTissue(double xTrue, double y, double z, ChestPhantomGenerator.Anatomy a)
    {
        // The chest narrows towards the thoracic inlet: the outline is scaled in x above mid-height.
        double x = xTrue / (1 - (0.16 * Math.Clamp(((z / L) - 0.45) / 0.55, 0, 1)));
        double bx = x / a.BodyA, by = y / (y > 0 ? 0.96 * a.BodyB : a.BodyB);
        if ((bx * bx) + (by * by) > 1)
        {
            double tableY = a.BodyB + 10 - (0.0012 * xTrue * xTrue);
            return Math.Abs(xTrue) < 175 && y > tableY && y < tableY + 4 ? Tissue.Table : Tissue.Air;
        }

        double fx = x / (a.BodyA - a.Fat), fy = y / (a.BodyB - (0.8 * a.Fat));
        if ((fx * fx) + (fy * fy) > 1)
        {
            return Tissue.Fat;
        }

        double cy = y - Yc;
        double ox = x / (A + 9), oy = cy / (B + 9);
        if ((ox * ox) + (oy * oy) > 1)
        {
            return Tissue.Muscle;
        }

        double cx = x / A, cyy = cy / B;
        if ((cx * cx) + (cyy * cyy) > 1)
        {
            return RibZone(x, cyy, z);
        }

        double px = x / 34, py = (cy - B) / 46;
        if ((px * px) + (py * py) < 1)
        {
            return Tissue.Muscle; // prevertebral / paravertebral; the spine is painted into it
        }

        double zd = Diaphragm(x, cy);
        if (z < zd - 5)
        {
            return Abdomen(x, cy, z);
        }

        if (z < zd)
        {
            return Tissue.Diaphragm;
        }

        double t = z / L;
        double taper = t < 0.8 ? 1 : Math.Sqrt(Math.Max(0, 1 - Math.Pow((t - 0.8) / 0.21, 2)));
        double mediastinumHalfWidth = 16 + (8 * Math.Max(0, -cy / B)) + (t > 0.7 ? 6 : 0);
        if (Math.Abs(x - MidlineX) < mediastinumHalfWidth)
        {
            return Tissue.Fat;
        }

        double lx = x / (A * taper), ly = (cy - (B * (1 - taper) * 0.4)) / (B * taper);
        return taper <= 0 || (lx * lx) + (ly * ly) > 1 ? Tissue.Fat : Tissue.Lung;
    }

    /// <summary>Ribs slope down anteriorly (posterior ends ~10 cm higher), costal cartilage anteriorly, sternum in front.</summary>
    private Tissue RibZone(double x, double p, double z)
    {
        double t = z / L;
        if (t < 0.05 || t > 0.97)
        {
            return Tissue.Muscle;
        }

        if (Math.Abs(x) < 16 && p < -0.6)
        {
            return t > 0.33 && t < 0.86 ? Tissue.CancellousBone : Tissue.Muscle;
        }

        double u = (z - (48 * p)) / anatomy.RibPitch;
        if (u - Math.Floor(u) < 0.36)
        {
            return p < -0.55 && Math.Abs(x) < 75 ? Tissue.Cartilage : Tissue.Bone;
        }

        return Tissue.Muscle;
    }

    /// <summary>Height (mm) of the diaphragm under (x, y): right dome higher than left, deep posterior recesses.</summary>
    private double Diaphragm(double x, double cy)
    {
        double Dome(double xc, double top)
        {
            double dx = (x - xc) / (0.75 * A), dy = cy / B;
            return top - (0.2 * L * ((dx * dx) + (dy * dy))) - (0.05 * L * Math.Max(0, dy));
        }

        return Math.Max(Dome(-0.45 * A, anatomy.RightDome), Dome(0.45 * A, anatomy.LeftDome));
    }

    private Tissue Abdomen(double x, double cy, double z)
    {
        if (x < 20 - (0.35 * cy))
        {
            return Tissue.Liver;
        }

        double sx = (x - 55) / 48, sy = (cy + 25) / 40, sz = (z - (0.1 * L)) / 40;
        if ((sx * sx) + (sy * sy) + (sz * sz) <= 1)
        {
            return z > (0.1 * L) + 26 ? Tissue.Air : Tissue.StomachContents;
        }

        double px = (x - 80) / 30, py = (cy - 45) / 42, pz = (z - (0.12 * L)) / 50;
        return (px * px) + (py * py) + (pz * pz) <= 1 ? Tissue.Spleen : Tissue.Fat;
    }

    private void Spine()
    {
        var soft = TissueSet.Of(Tissue.Muscle, Tissue.Fat);
        double vb = Yc + B - 20;
        canvas.PaintCapsule(new Vec3(0, vb, -20), new Vec3(0, vb, L + 20), 17, Tissue.Bone, soft);
        canvas.PaintCapsule(new Vec3(0, vb, -20), new Vec3(0, vb, L + 20), 14.5, Tissue.CancellousBone, TissueSet.Of(Tissue.Bone));
        for (double z = 8; z < L; z += 28)
        {
            canvas.Paint(new Vec3(-18, vb - 18, z), new Vec3(18, vb + 18, z + 5), Tissue.Cartilage, TissueSet.Of(Tissue.Bone, Tissue.CancellousBone),
                (x, y, _) => (x * x) + ((y - vb) * (y - vb)) < 17.5 * 17.5);
        }

        canvas.PaintCapsule(new Vec3(0, vb + 27, -20), new Vec3(0, vb + 27, L + 20), 12.5, Tissue.Bone, soft);
        canvas.PaintCapsule(new Vec3(0, vb + 27, -20), new Vec3(0, vb + 27, L + 20), 8, Tissue.Csf, TissueSet.Of(Tissue.Bone));
        canvas.PaintEllipsoid(new Vec3(-32, vb + 40, L / 2), new Vec3(26, 20, L), Tissue.Muscle, TissueSet.Of(Tissue.Fat));
        canvas.PaintEllipsoid(new Vec3(32, vb + 40, L / 2), new Vec3(26, 20, L), Tissue.Muscle, TissueSet.Of(Tissue.Fat));
        for (double z = 20; z < L; z += 28)
        {
            canvas.PaintCapsule(new Vec3(0, vb + 36, z), new Vec3(0, vb + 52, z - 10), 4.5, Tissue.Bone, soft);
            canvas.PaintCapsule(new Vec3(-10, vb + 22, z), new Vec3(-38, vb + 30, z), 4.5, Tissue.Bone, soft);
            canvas.PaintCapsule(new Vec3(10, vb + 22, z), new Vec3(38, vb + 30, z), 4.5, Tissue.Bone, soft);
        }
    }

    /// <summary>Scapulae: thin curved bone plates behind the upper ribs, outside the rib cage.</summary>
    private void Scapulae()
    {
        foreach (int side in new[] { -1, 1 })
        {
            var a = new Vec3(side * 55, Yc + B + 26, 0);
            var b = new Vec3(side * 128, Yc + (0.45 * B), 0);
            var ab = b - a;
            double half = Math.Max(3.5, 0.6 * canvas.Sx);
            canvas.Paint(new Vec3(Math.Min(a.X, b.X) - 10, Math.Min(a.Y, b.Y) - 10, 0.55 * L), new Vec3(Math.Max(a.X, b.X) + 10, Math.Max(a.Y, b.Y) + 10, 0.93 * L), Tissue.Bone, TissueSet.Of(Tissue.Muscle, Tissue.Fat), (x, y, z) =>
            {
                // The blade narrows towards its inferior angle.
                double t = Math.Clamp(((x - a.X) * ab.X + ((y - a.Y) * ab.Y)) / ab.Dot(ab), 0, 1);
                double reach = Math.Clamp((z - (0.55 * L)) / (0.2 * L), 0.25, 1);
                double dx = x - (a.X + (t * ab.X)), dy = y - (a.Y + (t * ab.Y));
                double bow = 6 * Math.Sin(Math.PI * t); // convex outwards
                return t <= reach && Math.Abs(Math.Sqrt((dx * dx) + (dy * dy)) - bow) < half && ((dx * ab.Y) - (dy * ab.X)) * side <= 0.5;
            });
        }
    }

    private void Airways()
    {
        var wallOver = TissueSet.Of(Tissue.Fat, Tissue.Muscle, Tissue.Lung);
        var lumenOver = TissueSet.Of(Tissue.AirwayWall);
        double yt = Yc + (0.2 * B);
        var top = new Vec3(0, yt, L + 20);
        var carina = new Vec3(0, yt + 5, 0.62 * L);
        var rightMain = new Vec3(-45, yt + 10, 0.54 * L);
        var leftMain = new Vec3(42, yt + 14, 0.52 * L);
        (Vec3 A, Vec3 B, double R, double Wall)[] tubes =
        [
            (top, carina, 9, 2.5),
            (carina, rightMain, 6.5, 2),
            (carina, leftMain, 6, 2),
            (rightMain, new Vec3(-78, yt + 2, 0.64 * L), 4, 1.5),
            (rightMain, new Vec3(-72, yt + 25, 0.40 * L), 4, 1.5),
            (leftMain, new Vec3(72, yt + 4, 0.61 * L), 4, 1.5),
            (leftMain, new Vec3(68, yt + 28, 0.40 * L), 4, 1.5),
        ];
        canvas.PaintCapsule(new Vec3(10, yt + 18, L + 20), new Vec3(20, yt + 26, 0.18 * L), 7, Tissue.Esophagus, TissueSet.Of(Tissue.Fat, Tissue.Muscle));
        foreach (var t in tubes)
        {
            canvas.PaintCapsule(t.A, t.B, t.R, Tissue.AirwayWall, wallOver, t.Wall);
        }

        // Each lumen stops one wall thickness short of its tube's end, so the blind end is capped by wall
        // instead of leaving a detached ring of wall voxels beyond the lumen.
        double cap = Math.Max(Math.Max(canvas.Sx, canvas.Sy), canvas.Sz) * 1.05;
        foreach (var t in tubes)
        {
            var axis = t.B - t.A;
            var end = t.B - (axis.Normalized * Math.Min(Math.Max(cap, t.Wall), 0.5 * axis.Length));
            canvas.PaintCapsule(t.A, end, t.R, Tissue.AirwayLumen, lumenOver);
        }
    }

    private Vec3 heartCentre;

    private void Heart(double effusion)
    {
        double ah = anatomy.HeartRatio * A, bh = 0.72 * ah, ch = (0.5 * ah) + 22;
        heartCentre = new Vec3(anatomy.HeartX, Yc - (0.2 * B), 0.38 * L);
        var heart = new Vec3(ah, bh, ch);
        // The fat pad is at least one voxel thick on every axis, so blood never touches pleural fluid or lung.
        var pad = new Vec3(Math.Max(6, 1.02 * canvas.Sx), Math.Max(6, 1.02 * canvas.Sy), Math.Max(6, 1.02 * canvas.Sz));
        var fluid = heart + new Vec3(effusion, effusion, effusion);
        canvas.PaintEllipsoid(heartCentre, fluid + pad, Tissue.Fat, SoftAroundHeart);
        if (effusion > 0)
        {
            canvas.PaintEllipsoid(heartCentre, fluid, Tissue.PericardialFluid, SoftAroundHeart);
        }

        canvas.PaintEllipsoid(heartCentre, heart, Tissue.Heart, TissueSet.Of(Tissue.Lung, Tissue.PulmonaryVessel, Tissue.Fat, Tissue.PericardialFluid, Tissue.Diaphragm, Tissue.Liver, Tissue.Spleen, Tissue.StomachContents, Tissue.Air));
    }

    private void GreatVessels()
    {
        var over = TissueSet.Of(Tissue.Lung, Tissue.Fat);
        double ch = (0.5 * anatomy.HeartRatio * A) + 22;
        var h = heartCentre;
        var ascending0 = new Vec3(-6, Yc - (0.25 * B), h.Z + (0.3 * ch));
        var archStart = new Vec3(-6, Yc - (0.25 * B), 0.72 * L);
        var archTop = new Vec3(2, Yc, 0.76 * L);
        var archEnd = new Vec3(22, Yc + (0.45 * B), 0.72 * L);
        var descendingEnd = new Vec3(14, Yc + (0.5 * B), -10);
        (Vec3, Vec3, double)[] vessels =
        [
            (ascending0, archStart, 14), (archStart, archTop, 13), (archTop, archEnd, 13), (archEnd, descendingEnd, 12),
            (archTop, new Vec3(-20, Yc - (0.1 * B), L + 10), 7), (new Vec3(12, Yc + (0.15 * B), 0.75 * L), new Vec3(25, Yc + (0.1 * B), L + 10), 6),
            (new Vec3(h.X + 5, Yc - (0.3 * B), h.Z + (0.5 * ch)), new Vec3(12, Yc - (0.1 * B), 0.6 * L), 13),
            (new Vec3(12, Yc - (0.1 * B), 0.6 * L), new Vec3(-50, Yc + (0.05 * B), 0.57 * L), 10),
            (new Vec3(12, Yc - (0.1 * B), 0.6 * L), new Vec3(48, Yc + (0.1 * B), 0.59 * L), 10),
            (new Vec3(-32, Yc - (0.15 * B), h.Z + (0.4 * ch)), new Vec3(-30, Yc - (0.1 * B), 0.9 * L), 10),
        ];
        foreach (var (a, b, r) in vessels)
        {
            canvas.PaintCapsule(a, b, r, Tissue.Blood, over);
        }
    }

    /// <summary>Pulmonary arteries/veins: twelve roots per hilum, up to five generations of bifurcation, tapering.</summary>
    private void VesselTrees(Vec3 hilum, int side)
    {
        Vec3[] roots =
        [
            new(side * 1.0, 0.1, 0.0), new(side * 0.5, -0.1, 0.85), new(side * 0.45, 0.2, -0.85),
            new(side * 0.3, 0.75, -0.6), new(side * 0.4, -0.8, -0.2), new(side * 0.6, 0.5, 0.5),
            new(side * 0.6, -0.5, 0.5), new(side * 0.6, 0.6, -0.3), new(side * 0.7, -0.6, -0.5),
            new(side * 0.8, 0.3, 0.6), new(side * 0.5, 0.1, -0.4), new(side * 0.9, -0.3, 0.2),
        ];
        foreach (var dir in roots)
        {
            Branch(hilum, dir.Normalized, 38, 5, 5, side);
        }
    }

    private void Branch(Vec3 start, Vec3 dir, double length, double radius, int depth, int side)
    {
        var end = start + (dir * length);
        canvas.PaintCapsule(start, end, radius, Tissue.PulmonaryVessel, LungOnly);

        // Branches much thinner than a pixel are not drawn: enlarged to stay connected they would fill coarse lungs.
        if (depth == 0 || radius * 0.72 < 0.35 * canvas.Sx)
        {
            return;
        }

        for (int c = 0; c < 2; c++)
        {
            var jitter = new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5) * 1.1;
            var child = (dir + jitter).Normalized;
            if (child.X * side < 0.1)
            {
                child = new Vec3(-child.X, child.Y, child.Z).Normalized; // keep branching away from the mediastinum
            }

            Branch(end, child, length * 0.75, radius * 0.72, depth - 1, side);
        }
    }

    // ---- findings ------------------------------------------------------------------------------

    /// <summary>Supine dependent fluid: everything posterior to a level that rises towards the lung base.</summary>
    private void PleuralFluid(PleuralEffusion f)
    {
        foreach (int side in Sides(f.Side))
        {
            double xLo = side < 0 ? -1000 : MidlineX, xHi = side < 0 ? MidlineX : 1000;
            canvas.Paint(new Vec3(xLo, -1000, -1000), new Vec3(xHi, 1000, 1000), Tissue.PleuralFluid, AeratedLung, (_, y, z) =>
            {
                double t = z / L;
                double depth = f.DepthMm * Math.Clamp(1.6 - (2.0 * (t - 0.2)), 0, 1.6);
                return y - Yc > B - depth;
            });
        }
    }

    private void AirBronchograms(Vec3 c, double r)
    {
        // Air bronchograms only where a 1.5 mm bronchus is resolvable; at coarse spacing they would only punch holes.
        if (canvas.Sx <= 1.5 && canvas.Sz <= 2.5)
        {
            for (int b = 0; b < 3; b++)
            {
                var dir = new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5).Normalized;
                canvas.PaintCapsule(c - (dir * (0.3 * r)), c + (dir * (0.75 * r)), 1.5, Tissue.AirwayLumen, TissueSet.Of(Tissue.Consolidation));
            }
        }
    }

    /// <summary>
    /// Finds a centre where the ellipsoid plus a clear margin lies in aerated lung on the requested side,
    /// clears vessels from that margin, paints the opacity there (<paramref name="paint"/> paints
    /// <see cref="Tissue.Pending"/>) and keeps it as <paramref name="tissue"/> only if no voxel of it is
    /// face-adjacent to anything but aerated lung, so it reads back as an isolated opacity. Null when there is no room.
    /// </summary>
    private Vec3? Place(Vec3 radii, int side, (double Lo, double Hi) xFrac, (double Lo, double Hi) yFrac, (double Lo, double Hi) zFrac, Action<Vec3> paint, Tissue tissue)
    {
        var clear = canvas.Visible(radii) + Halo;
        for (int attempt = 0; attempt < 500; attempt++)
        {
            // After 300 misses, widen to anywhere in that lung.
            var wide = attempt >= 300;
            (double Lo, double Hi) xs = wide ? (0.15, 0.95) : xFrac, ys = wide ? (-0.9, 0.9) : yFrac, zs = wide ? (0.15, 0.95) : zFrac;
            var c = new Vec3(
                side * A * Finding.Uniform(rng, xs.Lo, xs.Hi),
                Yc + (B * Finding.Uniform(rng, ys.Lo, ys.Hi)),
                L * Finding.Uniform(rng, zs.Lo, zs.Hi));
            if (canvas.At(c) != Tissue.Lung || !canvas.EllipsoidIsWithin(c, clear, AeratedLung))
            {
                continue;
            }

            canvas.PaintEllipsoid(c, clear, Tissue.Lung, TissueSet.Of(Tissue.PulmonaryVessel));
            paint(c);
            if (Settle(c - clear, c + clear, tissue))
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>
    /// Turns the pending voxels in the box into <paramref name="tissue"/> (returning vessels that touch them to
    /// lung) when none of them touches other tissue face-on; otherwise returns them to lung and reports false.
    /// </summary>
    private bool Settle(Vec3 lo, Vec3 hi, Tissue tissue)
    {
        int i0 = Math.Max(1, (int)Math.Floor((lo.X - canvas.X0) / canvas.Sx) - 1), i1 = Math.Min(canvas.Width - 2, (int)Math.Ceiling((hi.X - canvas.X0) / canvas.Sx) + 1);
        int j0 = Math.Max(1, (int)Math.Floor((lo.Y - canvas.Y0) / canvas.Sy) - 1), j1 = Math.Min(canvas.Height - 2, (int)Math.Ceiling((hi.Y - canvas.Y0) / canvas.Sy) + 1);
        int k0 = Math.Max(1, (int)Math.Floor((lo.Z - canvas.Z0) / canvas.Sz) - 1), k1 = Math.Min(canvas.Depth - 2, (int)Math.Ceiling((hi.Z - canvas.Z0) / canvas.Sz) + 1);
        var labels = canvas.Labels;
        bool isolated = true;
        var vessels = new List<long>();
        for (int k = k0; k <= k1 && isolated; k++)
        {
            for (int j = j0; j <= j1 && isolated; j++)
            {
                for (int i = i0; i <= i1; i++)
                {
                    if (labels[canvas.Index(k, j, i)] != Tissue.Pending)
                    {
                        continue;
                    }

                    foreach (var (dx, dy, dz) in FaceNeighbours)
                    {
                        long n = canvas.Index(k + dz, j + dy, i + dx);
                        var t = labels[n];
                        if (t == Tissue.PulmonaryVessel)
                        {
                            vessels.Add(n);
                        }
                        else if (t != Tissue.Pending && t != Tissue.Lung)
                        {
                            isolated = false;
                        }
                    }
                }
            }
        }

        // Pending voxels can only have been painted inside the box, and an edge-touching box is rejected by the check above.
        for (int k = Math.Max(0, k0 - 1); k <= Math.Min(canvas.Depth - 1, k1 + 1); k++)
        {
            for (int j = Math.Max(0, j0 - 1); j <= Math.Min(canvas.Height - 1, j1 + 1); j++)
            {
                for (int i = Math.Max(0, i0 - 1); i <= Math.Min(canvas.Width - 1, i1 + 1); i++)
                {
                    long n = canvas.Index(k, j, i);
                    if (labels[n] == Tissue.Pending)
                    {
                        labels[n] = isolated ? tissue : Tissue.Lung;
                    }
                }
            }
        }

        if (isolated)
        {
            foreach (long n in vessels)
            {
                labels[n] = Tissue.Lung;
            }
        }

        return isolated;
    }

    private static readonly (int, int, int)[] FaceNeighbours = [(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1)];

    /// <summary>Vessel pieces cut off from the hila (by a margin or fluid) would read as nodules; return them to lung.</summary>
    private void PruneDetachedVessels()
    {
        var labels = canvas.Labels;
        int w = canvas.Width, h = canvas.Height, d = canvas.Depth;
        var seen = new bool[labels.LongLength];
        var component = new List<long>();
        var stack = new Stack<long>();
        for (long start = 0; start < labels.LongLength; start++)
        {
            if (seen[start] || labels[start] != Tissue.PulmonaryVessel)
            {
                continue;
            }

            component.Clear();
            bool anchored = false;
            seen[start] = true;
            stack.Push(start);
            while (stack.Count > 0)
            {
                long i = stack.Pop();
                component.Add(i);
                int x = (int)(i % w), y = (int)(i / w % h), z = (int)(i / ((long)w * h));
                foreach (var (dx, dy, dz) in FaceNeighbours)
                {
                    int xx = x + dx, yy = y + dy, zz = z + dz;
                    if (xx < 0 || yy < 0 || zz < 0 || xx >= w || yy >= h || zz >= d)
                    {
                        continue;
                    }

                    long j = (((long)zz * h) + yy) * w + xx;
                    var t = labels[j];
                    if (t == Tissue.PulmonaryVessel)
                    {
                        if (!seen[j])
                        {
                            seen[j] = true;
                            stack.Push(j);
                        }
                    }
                    else if (t != Tissue.Lung && t != Tissue.EmphysematousLung && t != Tissue.AirwayLumen)
                    {
                        anchored = true; // touches the hilum, heart, mediastinum, an airway wall or the chest wall
                    }
                }
            }

            if (!anchored)
            {
                foreach (long i in component)
                {
                    labels[i] = Tissue.Lung;
                }
            }
        }
    }

    /// <summary>
    /// Centrilobular emphysema: a smooth random field plus an upper-zone bias, thresholded at the quantile that
    /// turns the requested fraction of lung into −975 HU tissue.
    /// </summary>
    private void EmphysemaField(double fraction)
    {
        var waves = Waves(6, 22, 40);
        var labels = canvas.Labels;
        var samples = new List<float>();
        long step = Math.Max(1, labels.LongLength / 2_000_000);
        for (long i = 0; i < labels.LongLength; i += step)
        {
            if (labels[i] == Tissue.Lung)
            {
                samples.Add(Field(i, waves));
            }
        }

        if (samples.Count == 0)
        {
            return;
        }

        samples.Sort();
        float threshold = samples[Math.Clamp((int)((1 - fraction) * samples.Count), 0, samples.Count - 1)];
        Parallel.For(0, canvas.Depth, k =>
        {
            long b = canvas.Index(k, 0, 0);
            for (long i = b; i < b + ((long)canvas.Width * canvas.Height); i++)
            {
                if (labels[i] == Tissue.Lung && Field(i, waves) > threshold)
                {
                    labels[i] = Tissue.EmphysematousLung;
                }
            }
        });
    }

    private float Field(long i, (Vec3 K, double Phase)[] waves)
    {
        int x = (int)(i % canvas.Width), y = (int)(i / canvas.Width % canvas.Height), z = (int)(i / ((long)canvas.Width * canvas.Height));
        var p = new Vec3(canvas.X(x), canvas.Y(y), canvas.Z(z));
        double f = 0;
        foreach (var (k, phase) in waves)
        {
            f += Math.Cos(k.Dot(p) + phase);
        }

        return (float)(f + (2.0 * ((p.Z / L) - 0.5)));
    }

    private (Vec3 K, double Phase)[] Waves(int n, double minPeriod, double maxPeriod)
    {
        var waves = new (Vec3, double)[n];
        for (int w = 0; w < n; w++)
        {
            var dir = new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5).Normalized;
            double period = Finding.Uniform(rng, minPeriod, maxPeriod);
            waves[w] = (dir * (2 * Math.PI / period), rng.NextDouble() * 2 * Math.PI);
        }

        return waves;
    }

    // ---- rendering -----------------------------------------------------------------------------

    /// <summary>
    /// Labels → HU: tissue mean, lung texture (a smooth field and a supine anteroposterior gradient), then
    /// Gaussian quantum noise whose σ scales as 1/√(voxel volume) from 12 HU at 0.7×0.7×1.5 mm.
    /// </summary>
    public Volume Render(int seed)
    {
        var waves = Waves(4, 18, 45);
        double voxel = canvas.Sx * canvas.Sy * canvas.Sz;
        float sigma = (float)Math.Clamp(12 * Math.Sqrt(0.7 * 0.7 * 1.5 / voxel), 0.3, 20);
        var voxels = new float[canvas.Labels.LongLength];
        var labels = canvas.Labels;
        Parallel.For(0, canvas.Depth, k =>
        {
            var noise = new GaussianNoise(unchecked(((ulong)(uint)seed << 32) ^ ((ulong)k * 0x9E3779B97F4A7C15UL)));
            double z = canvas.Z(k);
            for (int j = 0; j < canvas.Height; j++)
            {
                double y = canvas.Y(j);
                double dependent = 40 * Math.Clamp(((y - Yc) / B) + 0.2, 0, 1);
                long row = canvas.Index(k, j, 0);
                for (int i = 0; i < canvas.Width; i++)
                {
                    var t = labels[row + i];
                    float hu = TissueAttenuation.Of(t);
                    if (t == Tissue.Lung || t == Tissue.EmphysematousLung)
                    {
                        var p = new Vec3(canvas.X(i), y, z);
                        double texture = 0;
                        foreach (var (kv, phase) in waves)
                        {
                            texture += Math.Cos(kv.Dot(p) + phase);
                        }

                        hu += t == Tissue.Lung ? (float)((4.5 * texture) + dependent) : (float)(2 * texture);
                    }

                    // Whole HU, as a scanner stores them (and so int16 NIfTI/DICOM round-trip exactly).
                    voxels[row + i] = MathF.Round(hu + (sigma * noise.Next()));
                }
            }
        });

        return new Volume(canvas.Depth, canvas.Height, canvas.Width, voxels)
        {
            Spacing = (canvas.Sz, canvas.Sy, canvas.Sx),
            Origin = (canvas.X0, canvas.Y0, canvas.Z0),
            Direction = [1, 0, 0, 0, 1, 0, 0, 0, 1],
            Unit = "HU",
        };
    }

    /// <summary>SplitMix64 + Box–Muller: a per-slice stream, so parallel rendering stays deterministic.</summary>
    private struct GaussianNoise(ulong state)
    {
        private ulong s = state;
        private float spare = float.NaN;

        public float Next()
        {
            if (!float.IsNaN(spare))
            {
                float r = spare;
                spare = float.NaN;
                return r;
            }

            double u1 = (NextULong() >> 11) * (1.0 / (1UL << 53));
            double u2 = (NextULong() >> 11) * (1.0 / (1UL << 53));
            double mag = Math.Sqrt(-2 * Math.Log(Math.Max(u1, 1e-300)));
            spare = (float)(mag * Math.Sin(2 * Math.PI * u2));
            return (float)(mag * Math.Cos(2 * Math.PI * u2));
        }

        private ulong NextULong()
        {
            ulong z = s += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
