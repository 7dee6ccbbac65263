// gfnrl convert: DAG files between the text and binary forms, or a generated environment
// exported to a file. The input is validated before anything is written, and the output
// appears only when complete.
#include <filesystem>

#include "cli_common.hpp"

namespace gfnrl::cli {

namespace {

struct ConvertOptions {
  EnvOptions env;
  std::string out, format = "auto", with_pb = "keep";
};


DagFormat output_format(const ConvertOptions& o) {
  if (o.format != "auto") return parse_dag_format(o.format);
  if (ends_with(o.out, ".bin")) return DagFormat::Binary;
  if (ends_with(o.out, ".txt")) return DagFormat::Text;
  throw InputError("--out " + o.out + ": cannot tell the format from the name (use a .txt or "
                   ".bin suffix, or --format text|binary)");
}

int run(const ConvertOptions& o, const CLI::App& cmd) {
  check_env_flags(cmd, o.env);
  const DagFormat format = output_format(o);
  OutputFile out(o.out, true, "--out");  // checked and opened before any work
  DagFile file;
  std::optional<Environment> built;
  if (!o.env.dag_file.empty() && o.with_pb == "keep" && !o.env.tree) {
    // File to file: keep the file's own numbering, validated by building it once on the CPU.
    progress(o.env, "reading " + o.env.dag_file);
    file = read_dag_file(o.env.dag_file);
    build_dag_file(file, Backend::Cpu, o.env.dag_file);
  } else {
    EnvOptions cpu = o.env;
    built = build_environment(cpu, Backend::Cpu);
    std::unique_ptr<BackwardPolicy> pb;
    if (o.with_pb == "keep") {
      if (built->file_backward) pb = std::make_unique<BackwardPolicy>(*built->file_backward);
    } else {
      pb = make_correction(o.with_pb, *built);
    }
    file = dag_to_file(built->dag, pb.get());
  }
  progress(o.env, "writing " + o.out + " (" + dag_format_name(format) + ", " +
                      std::to_string(file.spec.edges.size()) + " edges)");
  write_dag_file(file, out.stream(), format);
  out.commit();
  nlohmann::json j = built ? built->description
                           : nlohmann::json{{"env", "file"}, {"dag", o.env.dag_file}};
  j["command"] = "convert";
  j["out"] = o.out;
  j["format"] = dag_format_name(format);
  j["num_states"] = file.spec.num_states;
  j["num_edges"] = file.spec.edges.size();
  j["num_terminal"] = file.spec.log_rewards.size();
  j["backward_policy"] = !file.log_pb.empty();
  j["bytes"] = out.bytes();
  if (o.env.json) {
    print_json_line(j);
  } else {
    for (const auto& [k, v] : j.items()) std::printf("%-16s %s\n", k.c_str(), v.dump().c_str());
  }
  return 0;
}

}  // namespace

void register_convert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "convert a DAG file between text and binary, or export a generated environment "
                 "(--env ...) to a DAG file");
  add_env_options(*cmd, o->env);
  cmd->add_option("--out", o->out, "the file to write (.txt: text, .bin: binary)")->required();
  cmd->add_option("--format", o->format, "output form: auto (from the --out suffix), text, binary")
      ->check(CLI::IsMember([] {
        std::vector<std::string> v{"auto"};
        for (const std::string& f : dag_format_names()) v.push_back(f);
        return v;
      }()))
      ->capture_default_str();
  cmd->add_option("--with-pb", o->with_pb,
                  "P_B values stored per edge: keep (the input file's, if any), uniform, maxent "
                  "(n(s)/n(s')), none")
      ->check(CLI::IsMember(std::vector<std::string>{
          "keep", correction_name(Correction::Uniform), correction_name(Correction::MaxEnt),
          correction_name(Correction::None)}))
      ->capture_default_str();
  cmd->callback([o, cmd]() { throw CLI::RuntimeError(run(*o, *cmd)); });
}

}  // namespace gfnrl::cli
