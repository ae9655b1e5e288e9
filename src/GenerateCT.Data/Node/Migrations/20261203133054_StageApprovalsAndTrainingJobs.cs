using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace GenerateCT.Data.Node.Migrations
{
    /// <inheritdoc />
    public partial class StageApprovalsAndTrainingJobs : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "stage_approvals",
                columns: table => new
                {
                    Stage = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    Approved = table.Column<bool>(type: "boolean", nullable: false),
                    ChangedBy = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    ChangedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_stage_approvals", x => x.Stage);
                });

            migrationBuilder.CreateTable(
                name: "training_jobs",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    Origin = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    RoundKey = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true),
                    Stage = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    State = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    RequestedBy = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    BaseModel = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    Steps = table.Column<int>(type: "integer", nullable: false),
                    LearningRate = table.Column<double>(type: "double precision", nullable: false),
                    BatchSize = table.Column<int>(type: "integer", nullable: false),
                    Seed = table.Column<long>(type: "bigint", nullable: false),
                    CheckpointEvery = table.Column<int>(type: "integer", nullable: false),
                    CheckpointStep = table.Column<int>(type: "integer", nullable: false),
                    Step = table.Column<int>(type: "integer", nullable: false),
                    SampleCount = table.Column<int>(type: "integer", nullable: true),
                    Metrics = table.Column<string>(type: "jsonb", nullable: true),
                    ResultPath = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: true),
                    ResultSha256 = table.Column<string>(type: "character(64)", fixedLength: true, maxLength: 64, nullable: true),
                    Error = table.Column<string>(type: "character varying(2048)", maxLength: 2048, nullable: true),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    StartedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    FinishedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_training_jobs", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_training_jobs_CreatedAt",
                table: "training_jobs",
                column: "CreatedAt");

            migrationBuilder.CreateIndex(
                name: "IX_training_jobs_State",
                table: "training_jobs",
                column: "State");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "stage_approvals");

            migrationBuilder.DropTable(
                name: "training_jobs");
        }
    }
}
