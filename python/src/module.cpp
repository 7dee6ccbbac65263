// gfnrl._gfnrl: the extension module. The library's errors become Python exceptions with the
// library's messages: InputError -> ValueError, AllocationError -> MemoryError, CudaError ->
// RuntimeError.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "gfnrl/gfnrl.hpp"
#include "py_dag.hpp"

NB_MODULE(_gfnrl, m) {
  namespace nb = nanobind;
  using namespace gfnrl;
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const AllocationError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const CudaError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  m.def("cuda_available", &cuda_available, "True when a CUDA device can be used");
  m.def("cuda_compiled", &cuda_compiled, "True when this build contains the CUDA backend");
  m.def("algo_names", &algo_names, "the learners' names, in Algo order");
  m.def("backend_names", &backend_names, "the backend names: cpu, cuda, auto");
  m.def("environment_names", &environment_names, "the generated environments' names");
  python::bind_dag(m);
  python::bind_exact(m);
  python::bind_evaluate(m);
  python::bind_train(m);
}
